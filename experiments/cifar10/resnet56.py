r"""ResNet-56 on CIFAR-10 with He et al. 2016's recipe (§4.2).

    python launch.py train --config experiments/cifar10/resnet56.py --workdir runs/cifar10_resnet56

Recipe: SGD, momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 divided by 10 at 32k
and 48k iterations, stopped at 64k (82, 123 and 164 epochs of 50k images); 4-pixel padding with
a random 32×32 crop and horizontal flips. He et al. train on 45k images and keep 5k for
validation; this uses all 50k. Any depth of the table: --config.model.name=resnet20_cifar,
resnet32_cifar, resnet44_cifar, resnet110_cifar (the paper warms ResNet-110 up at 0.01 for
about 400 iterations: --config.schedule.warmup_epochs=1).
Published: 6.97% test error (He et al. 2016, Table 6; ResNet-20/32/44/110: 8.75/7.51/7.17/6.43%).
Measured by cnn: not yet (needs a lent GPU; the CPU here trains it at a few epochs per hour).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "resnet56_cifar"
    config.dataset.name = "tfds:cifar10"
    config.batch_size = 128
    config.num_epochs = 164
    config.augment.crop_padding = 4
    config.augment.flip = True
    config.optimizer.learning_rate = 0.1
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 1e-4
    config.schedule.name = "step"
    config.schedule.warmup_epochs = 0.0
    config.schedule.boundaries_epochs = (82, 123)
    config.schedule.decay_factor = 0.1
    return config
