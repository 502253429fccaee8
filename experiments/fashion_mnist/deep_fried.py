r"""Deep fried convnet (Yang et al. 2015): Caffe's LeNet convolutions, Adaptive Fastfood 1024, on Fashion-MNIST.

    python launch.py train --config experiments/fashion_mnist/deep_fried.py --workdir runs/fashion_mnist_deep_fried

The paper's MNIST network (`deep_fried_mnist`, 39,916 parameters) with lenet5.py's recipe (SGD with
Nesterov momentum 0.9, learning rate 0.05, one warm-up epoch, cosine decay, weight decay 5e-4 on
kernels, batch 128, no augmentation) for 5 epochs.
Published: 0.72% test error on MNIST (99.28% top-1) for Adaptive Fastfood 1024 with dropout (Yang et al.
2015, Table 1, quoted from memory), 0.71% for the non-adaptive Fastfood 1024, against 0.87% for Caffe's
LeNet with 11× the weights. Fashion-MNIST is not in the paper.
Measured by cnn (seed 0, jax 0.10.2, 2-core CPU shared with other jobs, load ≈ 3.6, 2026-11-24): 0.8964
test top-1 after 5 epochs (0.8448, 0.8745, 0.8822, 0.8920 after epochs 1-4), 124 s end to end; the
README's results table is generated from the workdir.
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": None, "source": "none on Fashion-MNIST; 0.72% MNIST error (Yang et al. 2015, Table 1)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parent / "lenet5.py"))
    config.model.name = "deep_fried_mnist"
    config.num_epochs = 5
    return config
