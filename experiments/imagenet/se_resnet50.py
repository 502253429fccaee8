r"""SE-ResNet-50 on ImageNet with Hu et al. 2018's recipe (§6, "Implementation").

    python launch.py train --config experiments/imagenet/se_resnet50.py --workdir runs/imagenet_se_resnet50

Recipe: synchronous SGD, momentum 0.9, batch 1024, learning rate 0.6 divided by 10 every 30 epochs,
100 epochs from scratch; random-size crops to 224 with flips (the paper adds random rotation and
colour shifts, which cnn's augmentation gains later). The paper does not state the weight decay;
1e-4 here is the ResNet value its baselines use. SE-ResNet-101 and SE-ResNeXt-50 (32×4d):
--config.model.name=se_resnet101, se_resnext50_32x4d.
Published: 76.71% top-1 (23.29% top-1 error, single 224 crop; Hu et al. 2018, Table 2).
Measured by cnn: not yet (ImageNet is not on this machine; needs `tfds build imagenet2012` and a GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.7671, "source": "Hu et al. 2018, Table 2 (23.29% error)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parent / "resnet50.py"))
    config.model.name = "se_resnet50"
    config.batch_size = 1024
    config.num_epochs = 100
    config.optimizer.learning_rate = 0.6
    return config
