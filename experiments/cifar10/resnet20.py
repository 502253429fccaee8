r"""ResNet-20 on CIFAR-10 with He et al. 2016's recipe (§4.2), that of resnet56.py with 3 blocks per stage.

    python launch.py train --config experiments/cifar10/resnet20.py --workdir runs/cifar10_resnet20

Recipe: resnet56.py's (SGD, momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 divided by
10 at 32k and 48k iterations, 64k in all; 4-pixel padding, random crops, flips), with the same
differences from the paper (all 50k training images, per-channel standardisation).
Published: 8.75% test error (He et al. 2016, Table 6, ResNet-20).
Measured by cnn: not yet (needs a lent GPU; the CPU here trains it at a few epochs per hour).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.9125, "source": "He et al. 2016, Table 6 (8.75% error)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).with_name("resnet56.py")))
    config.model.name = "resnet20_cifar"
    return config
