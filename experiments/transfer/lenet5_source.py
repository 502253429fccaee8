r"""The transfer study's source: LeNet-5 on Fashion-MNIST classes 0-4 (T-shirt/top, Trouser, Pullover,
Dress, Coat), so classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot) stay unseen for the target.

    python launch.py train --config experiments/transfer/lenet5_source.py --workdir runs/transfer/lenet5_source

The default LeNet-5 recipe (experiments/fashion_mnist/lenet5.py) on the 30,000 training images of
those classes, 10 epochs. Measured: see README, "Transfer learning".
"""

import os

import ml_collections

from cnn.config import load_config

SOURCE_CLASSES = (0, 1, 2, 3, 4)


def get_config() -> ml_collections.ConfigDict:
    config = load_config(os.path.join(os.path.dirname(__file__), "..", "fashion_mnist", "lenet5.py"))
    with config.unlocked():
        config.num_epochs = 10
        config.keep_checkpoint_epochs = ()
        config.dataset.classes = SOURCE_CLASSES  # relabelled 0..4; images keep the full set's normalisation
        config.dataset.train_per_class = 0  # 0: every training image of those classes
        config.dataset.subset_seed = 0
    return config
