r"""Fine-tuning the transfer study's LeNet-5 (trained on Fashion-MNIST classes 0-4) on a small target.

    python launch.py transfer --config experiments/transfer/lenet5.py --source runs/transfer/lenet5_source \
        --workdir runs/transfer/lenet5_digits_fade

fine-tunes on the digits with `fade`; in general `--config experiments/transfer/lenet5.py:TARGET
--config.transfer.strategy=STRATEGY [--config.seed=S]`, where TARGET is one of (experiments/transfer/targets.py)
  digits     scikit-learn's 8×8 handwritten digits, upsampled to 28×28: 898 training and 899 test images
  fashion10  Fashion-MNIST classes 5-9 (unseen by the source), 10 training images per class; all 5,000 test images
  fashion100 the same with 100 training images per class

STRATEGY is scratch, all, freeze or fade (cnn/transfer/strategies.py). One recipe for all four, so
they differ only in where the weights start and what trains: the new head reads F6 (only the
source's 5-way output layer is dropped); freeze and fade hold C1-C3, fade thaws them from the top
down over the first half of the run. The few-shot subsets are drawn with the run's seed.
`python experiments/transfer/study.py` runs every target × strategy × 3 seeds and writes the
README's table. Measured: see README, "Transfer learning".
Published: no figure for these targets. The notes' table (Zeiler & Fergus 2014, Table 6) is the
analogue for ImageNet features: a linear SVM on layer 1 scores 44.8% on Caltech-101 (30 images per
class), on layer 5 86.2%.
"""

import ml_collections

from experiments.transfer.targets import fine_tune_config


def get_config(target: str = "digits") -> ml_collections.ConfigDict:
    return fine_tune_config("lenet5", target, cut="f6", freeze_until="c3")
