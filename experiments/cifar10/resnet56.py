r"""ResNet-56 on CIFAR-10 with He et al. 2016's recipe (§4.2); the other depths of Table 6 load it.

    python launch.py train --config experiments/cifar10/resnet56.py --workdir runs/cifar10_resnet56

Recipe: option-A (zero-padded identity) shortcuts, He initialisation, batch norm, no dropout; SGD,
momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 divided by 10 at 32k and 48k
iterations, stopped at 64k (exactly: at 390 iterations per epoch of 50k images these are epochs
82.05, 123.08 and 164.10); 4-pixel zero padding with a random 32×32 crop and horizontal flips;
one 32×32 view at test time. The same recipe for ResNet-20, 32, 44 and 110: resnet20.py,
resnet32.py, resnet44.py, resnet110.py beside this file (ResNet-110 adds a warm-up).
Differences: He et al. train on 45k images and keep 5k for validation, and subtract the per-pixel
mean; this uses all 50k (so 64k iterations are 164 epochs here, 182 there) and standardises each
channel. cnn decays only kernels, never batch-norm scales and biases (unstated in the paper).
Published: 6.97% test error (He et al. 2016, Table 6, ResNet-56).
Measured by cnn: not yet (needs a lent GPU; the CPU here trains it at a few epochs per hour).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config

# He et al. count iterations; cnn's schedule counts epochs of 50,000 // 128 = 390 steps.
STEPS_PER_EPOCH = 50_000 // 128


PUBLISHED = {"top1": 0.9303, "source": "He et al. 2016, Table 6 (6.97% error)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "resnet56_cifar"
    config.dataset.name = "tfds:cifar10"
    config.batch_size = 128
    config.num_epochs = 164
    config.num_train_steps = 64_000  # overrides num_epochs: the paper's 64k iterations
    config.augment.crop_padding = 4
    config.augment.crop_mode = "constant"
    config.augment.flip = True
    config.init.name = "default"  # the model's He-normal kernels
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.1
    config.optimizer.momentum = 0.9
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 1e-4
    config.label_smoothing = 0.0
    config.schedule.name = "step"
    config.schedule.warmup_epochs = 0.0
    config.schedule.boundaries_epochs = (32_000 / STEPS_PER_EPOCH, 48_000 / STEPS_PER_EPOCH)
    config.schedule.decay_factor = 0.1
    return config
