r"""VGG-16 with batch norm on CIFAR-10, with the recipe of Frankle et al. 2020's VGG-16 (open_lth's cifar_vgg_16).

    python launch.py train --config experiments/cifar10/vgg16_bn.py --workdir runs/cifar10_vgg16_bn

Recipe (Frankle, Dziugaite, Roy & Carbin 2020, "Linear Mode Connectivity and the Lottery Ticket
Hypothesis", Table 1, VGG-16 "standard"; the hyperparameters of facebookresearch/open_lth,
models/cifar_vgg.py): the 13 3×3 convolutions of configuration D, each followed by batch norm and
ReLU, at 32×32; SGD, momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 divided by 10 at
epochs 80 and 120 of 160 (Table 1: 63k iterations, drops at 32k and 48k); He-normal (fan-in)
initialisation; 4-pixel zero padding with random 32×32 crops and horizontal flips; no dropout.
Differences: their network ends in the 2×2 average pool of the last block's map and one 512 → 10
layer; cnn's vgg16_bn keeps the fifth max pool (to 1×1, so pool_size 1) and its three fully
connected layers, here narrowed to 512 → 512 → 512 → 10 and without dropout (about 0.5M more
parameters than their 14.7M). open_lth draws the batch-norm scales uniformly from [0, 1); cnn's are 1.
Published: 93.7 ± 0.1% test top-1, i.e. 6.3% error (Frankle et al. 2020, Table 1, VGG-16 standard).
Measured by cnn: not yet (needs a lent GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.937, "source": "Frankle et al. 2020, Table 1 (VGG-16)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "vgg16_bn"
    with config.unlocked():
        config.model.pool_size = 1  # 32×32 input: the fifth pool leaves a 1×1×512 map
        config.model.hidden = 512
        config.model.dropout = 0.0
    config.dataset.name = "tfds:cifar10"
    config.batch_size = 128
    config.num_epochs = 160
    config.augment.crop_padding = 4
    config.augment.crop_mode = "constant"
    config.augment.flip = True
    config.init.name = "he"  # N(0, 2 / fan_in) kernels, zero biases: open_lth's kaiming_normal
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.1
    config.optimizer.momentum = 0.9
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 1e-4
    config.schedule.name = "step"
    config.schedule.warmup_epochs = 0.0
    config.schedule.boundaries_epochs = (80, 120)
    config.schedule.decay_factor = 0.1
    return config
