r"""The transfer study's first source: LeNet-5 on Fashion-MNIST classes 0-4 (T-shirt/top, Trouser, Pullover,
Dress, Coat), so classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot) stay unseen for the targets.

    python launch.py train --config experiments/transfer/lenet5_source.py --workdir runs/transfer/lenet5_source

The default LeNet-5 recipe (experiments/fashion_mnist/lenet5.py) on the 30,000 training images of
those classes, 10 epochs. Measured: see README, "Transfer learning".
Published: LeNet-5-style CNNs score about 89-91% on all ten Fashion-MNIST classes (Xiao et al. 2017);
no published figure for these five.
"""

import ml_collections

from experiments.transfer.targets import source_config


def get_config() -> ml_collections.ConfigDict:
    return source_config("lenet5", num_epochs=10)
