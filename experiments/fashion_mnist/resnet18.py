r"""ResNet-18 with a CIFAR-style stem (3×3 stride-1 convolution, no max pool) on Fashion-MNIST.

    python launch.py train --config experiments/fashion_mnist/resnet18.py --workdir runs/fashion_mnist_resnet18

Recipe: SGD with Nesterov momentum 0.9, learning rate 0.1 after a one-epoch warm-up, cosine decay over
30 epochs, weight decay 5e-4 on kernels, batch 128; random 28×28 crops of the image padded by 2, left-right
flips and rotations of up to 10° (the submission below also flipped vertically and translated). The stem
keeps the 28×28 resolution into the first stage, as CIFAR ResNet-18s do; torchvision's 7×7/2 stem and
max pool would leave a 7×7 map before the first block.
Published: 0.949 test top-1 for ResNet18 with flips, translation and rotation (Fashion-MNIST benchmark
table, zalandoresearch/fashion-mnist README; a submitted, untested result).
Measured by cnn: not yet: 0.46 GMACs per 28×28 image (`launch.py summary`), 1,100 times LeNet-5's; 30 epochs
wait for a lent GPU.
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config

PUBLISHED = {"top1": 0.949, "source": "ResNet18, Fashion-MNIST benchmark table"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parent / "lenet5.py"))
    config.num_epochs = 30
    config.optimizer.learning_rate = 0.1
    config.augment.crop_padding = 2
    config.augment.flip = True
    config.augment.rotate = 10.0
    with config.unlocked():
        config.model.name = "resnet18"
        config.model.stem_kernel = 3
        config.model.stem_stride = 1
        config.model.stem_pool = False
    return config
