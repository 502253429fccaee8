r"""The transfer study's second source: the CIFAR ResNet-20 (He et al. 2016) on Fashion-MNIST classes 0-4.

    python launch.py train --config experiments/transfer/resnet20_source.py --workdir runs/transfer/resnet20_source

The default Fashion-MNIST recipe (experiments/fashion_mnist/lenet5.py: SGD with Nesterov momentum,
cosine decay) on the 30,000 training images of those classes, 3 epochs, 28×28×1 inputs (the
network is fully convolutional up to its global average pool). Measured: see README, "Transfer learning".
Published: no figure for these five classes; ResNets reach about 94-95% on all ten in the benchmark
table of zalandoresearch/fashion-mnist.
"""

import ml_collections

from experiments.transfer.targets import source_config


def get_config() -> ml_collections.ConfigDict:
    return source_config("resnet20_cifar", num_epochs=3)
