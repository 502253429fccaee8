r"""VGG-16 (configuration D) on ImageNet with Simonyan & Zisserman 2015's recipe (§3.1).

    python launch.py train --config experiments/imagenet/vgg16.py --workdir runs/imagenet_vgg16

Recipe: SGD, momentum 0.9, weight decay 5e-4, batch 256, dropout 0.5 in the first two fully
connected layers, learning rate 0.01 divided by 10 three times when the validation accuracy
stopped improving (here at fixed epochs 30, 50, 65), stopped after 370k iterations (74 epochs);
224 crops with flips and AlexNet's random RGB colour shift (config.augment.pca_lighting 0.1).
Differences: the paper's crops come from images rescaled to a random S in [256, 512] (scale
jittering), ours are Inception-style random resized crops; it initialised D from a trained
configuration A (and notes that Glorot initialisation works as well), ours uses the model's own
He initialisation; it subtracts the mean RGB value, cnn standardises each channel; and it tests
densely on the whole image rescaled to Q, cnn on the 224 centre crop of a 256 resize.
Other configurations: --config.model.name=vgg11, vgg13, vgg19, vgg16_c, vgg_a_lrn, vgg16_bn...
Published: 25.6% top-1, 8.1% top-5 error (Simonyan & Zisserman 2015, Table 3, D, train S in
[256; 512], test Q = 384); the row nearest cnn's evaluation, train S = 256 and test Q = 256: 27.0%, 8.8%.
Measured by cnn: not yet (ImageNet is not on this machine; needs `tfds build imagenet2012` and a GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.744, "source": "Simonyan & Zisserman 2015, Table 3, D (25.6% error, multi-scale)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "vgg16"
    config.dataset.name = "tfds:imagenet2012"
    config.dataset.image_size = 224
    config.dataset.eval_split = "validation"
    config.batch_size = 256
    config.num_epochs = 74
    config.augment.flip = True
    config.augment.pca_lighting = 0.1
    config.optimizer.learning_rate = 0.01
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 5e-4
    config.schedule.name = "step"
    config.schedule.warmup_epochs = 0.0
    config.schedule.boundaries_epochs = (30, 50, 65)
    config.schedule.decay_factor = 0.1
    return config
