r"""ResNet-20 (He et al. 2016's CIFAR network, option-A shortcuts) on Fashion-MNIST: the strong config a
2-core CPU can train.

    python launch.py train --config experiments/fashion_mnist/resnet20.py --workdir runs/fashion_mnist_resnet20

The 3×3 stem and three stages of three basic blocks (16, 32, 64 channels) run at 28, 14 and 7 pixels;
0.27 M parameters, 31 M multiply-adds per 28×28 image (`launch.py summary`). Recipe: lenet5.py's (SGD with
Nesterov momentum 0.9, label smoothing 0.1, one warm-up epoch, cosine decay, weight decay 5e-4, batch 128)
at learning rate 0.1 for 20 epochs, with 2-pixel padding, random crops and left-right flips.
Published: none for ResNet-20 on Fashion-MNIST; the benchmark table's nearest rows are ResNet18 (0.949)
and "CNN with optional shortcuts, dense-like connectivity" (0.947). Target: 0.94 (issue 8's strong config).
Measured by cnn: 0.9406 test top-1 after 20 epochs (best 0.9408), 94% first reached at epoch 18,
56.8 minutes from the process's start, the whole run 63.0 minutes, on the 2-core AMD EPYC here
(`python -m benchmarks.time_to_accuracy --config experiments/fashion_mnist/resnet20.py --target 0.94
--keep runs/fashion_mnist_resnet20`, 2026-11-24), training at 300–360 images/s; short measurements
shared the cores during its first epochs.
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config

PUBLISHED = {"top1": None, "source": "none for ResNet-20; ResNet18 0.949 in the Fashion-MNIST benchmark table"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parent / "lenet5.py"))
    config.num_epochs = 20
    config.optimizer.learning_rate = 0.1
    config.augment.crop_padding = 2
    config.augment.flip = True
    config.model.name = "resnet20_cifar"
    return config
