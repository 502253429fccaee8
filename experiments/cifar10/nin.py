r"""Network in Network on CIFAR-10, after the solver of Lin, Chen & Yan's released Caffe model.

    python launch.py train --config experiments/cifar10/nin.py --workdir runs/cifar10_nin

Recipe: SGD, momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 divided by 10 when the
test accuracy stops improving (here at fixed epochs 80 and 120 of 160), dropout 0.5 after the
first two mlpconv blocks; flips and 4-pixel translations (the "with data augmentation" row).
The paper also preprocesses with global contrast normalisation and ZCA whitening, which cnn's
pipeline does not do (per-channel standardisation instead).
Published: 8.81% test error with augmentation, 10.41% without (Lin et al. 2014, Table 2).
Measured by cnn: not yet (needs a lent GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.9119, "source": "Lin et al. 2014, Table 2 (8.81% error, augmented)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "nin_cifar"
    config.dataset.name = "tfds:cifar10"
    config.batch_size = 128
    config.num_epochs = 160
    config.augment.crop_padding = 4
    config.augment.flip = True
    config.optimizer.learning_rate = 0.1
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 1e-4
    config.schedule.name = "step"
    config.schedule.warmup_epochs = 0.0
    config.schedule.boundaries_epochs = (80, 120)
    config.schedule.decay_factor = 0.1
    return config
