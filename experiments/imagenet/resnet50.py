r"""ResNet-50 (v1.5, torchvision's) on ImageNet with the standard 90-epoch recipe.

    python launch.py train --config experiments/imagenet/resnet50.py --workdir runs/imagenet_resnet50

Recipe (He et al. 2016 as torchvision's reference script runs it): SGD, momentum 0.9, weight
decay 1e-4, batch 256, learning rate 0.1 divided by 10 every 30 epochs, 90 epochs; Inception-style
random resized crops to 224 with flips, evaluation on the 224 centre crop of a 256 resize; He
initialisation (fan-out), no label smoothing. Difference: torchvision's SGD decays every parameter,
batch-norm scales and biases included; cnn decays only kernels. He et al.'s own recipe differs
(scale-jittered crops, colour augmentation, 600k iterations; Table 4 reports 10-crop errors).
The other depths: --config.model.name=resnet18, resnet34, resnet101, resnet152, resnext50_32x4d,
wide_resnet50_2 (the same recipe, as torchvision trains them).
Published: 76.13% top-1, 92.86% top-5 (torchvision's resnet50 weights, single 224 crop).
Measured by cnn: not yet (ImageNet is not on this machine; needs `tfds build imagenet2012` and a GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.7613, "source": "torchvision's resnet50 weights (90-epoch recipe)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "resnet50"
    config.dataset.name = "tfds:imagenet2012"
    config.dataset.image_size = 224
    config.dataset.eval_split = "validation"
    config.batch_size = 256
    config.num_epochs = 90
    config.augment.flip = True
    config.optimizer.learning_rate = 0.1
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 1e-4
    config.schedule.name = "step"
    config.schedule.warmup_epochs = 0.0
    config.schedule.boundaries_epochs = (30, 60)
    config.schedule.decay_factor = 0.1
    return config
