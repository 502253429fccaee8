r"""AlexNet, the original two-tower form, on ImageNet with Krizhevsky et al. 2012's recipe (§5).

    python launch.py train --config experiments/imagenet/alexnet.py --workdir runs/imagenet_alexnet

Recipe: SGD, momentum 0.9, weight decay 5e-4, batch 128, weights drawn from N(0, 0.01²),
learning rate 0.01 divided by 10 three times "when the validation error rate stopped improving"
(here at fixed epochs 30, 60, 80 of 90: the paper ran "roughly 90 cycles"), dropout 0.5 in the
first two fully connected layers, 227×227 crops with flips, and PCA lighting noise ("altering the
intensities of the RGB channels", α ~ N(0, 0.1²): config.augment.pca_lighting). Differences: the
paper sets the biases of conv2, conv4, conv5 and the hidden fully connected layers to 1 (cnn's
"gaussian" init zeroes every bias); its crops are random 224 patches (227 in the arithmetic) of the
central 256×256 of a 256 resize, ours Inception-style random resized crops; it subtracts the mean
image, cnn standardises each channel; and its test error averages the softmax over ten patches
(four corners and the centre, and their flips), where cnn evaluates the one centre crop.
torchvision's single tower: --config.model.name=alexnet.
Published: 40.7% top-1, 18.2% top-5 error for one CNN (Krizhevsky et al. 2012, Table 2).
Measured by cnn: not yet (ImageNet is not on this machine; needs `tfds build imagenet2012` and a GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.593, "source": "Krizhevsky et al. 2012, Table 2 (40.7% error, one CNN)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "alexnet_2012"
    config.dataset.name = "tfds:imagenet2012"
    config.dataset.image_size = 227
    config.dataset.eval_split = "validation"
    config.batch_size = 128
    config.num_epochs = 90
    config.augment.flip = True
    config.augment.pca_lighting = 0.1
    config.init.name = "gaussian"
    config.init.std = 0.01
    config.optimizer.learning_rate = 0.01
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 5e-4
    config.schedule.name = "step"
    config.schedule.warmup_epochs = 0.0
    config.schedule.boundaries_epochs = (30, 60, 80)
    config.schedule.decay_factor = 0.1
    return config
