r"""Fine-tuning the transfer study's ResNet-20 (trained on Fashion-MNIST classes 0-4) on a small target.

    python launch.py transfer --config experiments/transfer/resnet20.py --source runs/transfer/resnet20_source \
        --workdir runs/transfer/resnet20_digits_fade

TARGET (`resnet20.py:TARGET`) and STRATEGY as in experiments/transfer/lenet5.py. The new head reads the global average
pool ("features", 64 values; only the 5-way classifier is dropped); freeze and fade hold the stem
and the first two stages, so stage 3 and the head train. Measured: see README, "Transfer learning".
Published: no figure for these targets. The notes' table (Zeiler & Fergus 2014, Table 6) is the
analogue for ImageNet features: a linear SVM on layer 1 scores 44.8% on Caltech-101 (30 images per
class), on layer 5 86.2%.
"""

import ml_collections

from experiments.transfer.targets import fine_tune_config


def get_config(target: str = "digits") -> ml_collections.ConfigDict:
    return fine_tune_config("resnet20_cifar", target, cut="features", freeze_until="stage2")
