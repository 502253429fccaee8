r"""A small VGG-style net with batch norm and dropout on Fashion-MNIST: the benchmark's "3 Conv + pooling + 2 FC".

    python launch.py train --config experiments/fashion_mnist/vgg_small.py --workdir runs/fashion_mnist_vgg_small

The net of experiments/notes/base.py (small_vgg): 3×3 convolutions of 16, 32, 64 and 64 channels, each
followed by batch norm and ReLU, a 2×2 max pool closing each of the three blocks, then fully connected
layers of 128 and 128 units, each followed by dropout 0.5, and the 10-way output (vgg11's code with
`config.model.*` overrides). Recipe: lenet5.py's (SGD with Nesterov momentum 0.9, learning rate 0.05,
one warm-up epoch, cosine decay, weight decay 5e-4, batch 128) for 15 epochs, with 2-pixel padding and
random crops and left-right flips.
Published: 0.926 test top-1 for 3 convolutions with pooling and 2 fully connected layers with dropout,
0.903 for 3 convolutions with pooling and batch norm (Fashion-MNIST benchmark table; submitted results).
Measured by cnn (seed 0, 2-core CPU shared with test runs, 2026-11-24): 0.9194 test top-1 after 15 epochs,
354 s end to end; the README's results table is generated from the workdir.
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config
from experiments.notes.base import small_vgg

PUBLISHED = {"top1": 0.926, "source": "3 Conv + pooling + 2 FC + dropout, Fashion-MNIST benchmark table"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parent / "lenet5.py"))
    small_vgg(config, ((3,), (3,), (3, 3)), batch_norm=True)
    config.model.dropout = 0.5
    config.augment.crop_padding = 2
    config.augment.flip = True
    return config
