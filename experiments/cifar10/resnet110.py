r"""ResNet-110 on CIFAR-10 with He et al. 2016's recipe (§4.2): resnet56.py's, 18 blocks per stage, a warm-up.

    python launch.py train --config experiments/cifar10/resnet110.py --workdir runs/cifar10_resnet110

Recipe: resnet56.py's (SGD, momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 divided by
10 at 32k and 48k iterations, 64k in all; 4-pixel padding, random crops, flips), with the same
differences from the paper (all 50k training images, per-channel standardisation). He et al. find
0.1 too large to start converging at this depth and train at 0.01 "until the training error is
below 80% (about 400 iterations)", then go back to 0.1. cnn's warm-up is a linear ramp from 0,
so here the rate rises linearly from 0 to 0.1 over the first 400 iterations instead of holding 0.01.
Published: 6.43% test error, best of 5 runs; 6.61 ± 0.16% mean (He et al. 2016, Table 6, ResNet-110).
Measured by cnn: not yet (needs a lent GPU; the CPU here trains it at a few epochs per hour).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config

STEPS_PER_EPOCH = 50_000 // 128


PUBLISHED = {"top1": 0.9357, "source": "He et al. 2016, Table 6 (6.43% error, best of 5)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).with_name("resnet56.py")))
    config.model.name = "resnet110_cifar"
    config.schedule.warmup_epochs = 400 / STEPS_PER_EPOCH
    return config
