r"""Inception v3 on ImageNet with Szegedy et al. 2016's recipe (§8).

    python launch.py train --config experiments/imagenet/inception_v3.py --workdir runs/imagenet_inception_v3

Recipe: RMSProp with decay 0.9 and epsilon 1.0, learning rate 0.045 decayed by 0.94 every two
epochs (here smoothly, 0.94^(1/2) per epoch), gradient clipping at norm 2.0, label smoothing 0.1,
batch 32 on each of 50 replicas (1,600), 100 epochs; 299×299 crops. The auxiliary classifier's
loss weight is not in the paper; 0.4 is torchvision's reference script's.
Published: 21.2% top-1, 5.6% top-5 error, single crop (Szegedy et al. 2016, Table 3, last row).
Measured by cnn: not yet (ImageNet is not on this machine; needs `tfds build imagenet2012` and a GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.788, "source": "Szegedy et al. 2016, Table 3 (21.2% error)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "inception_v3"
    config.dataset.name = "tfds:imagenet2012"
    config.dataset.image_size = 299
    config.dataset.eval_split = "validation"
    config.batch_size = 1600
    config.num_epochs = 100
    config.augment.flip = True
    config.label_smoothing = 0.1
    config.aux_loss_weight = 0.4
    config.optimizer.name = "rmsprop"
    config.optimizer.learning_rate = 0.045
    config.optimizer.momentum = 0.0
    config.optimizer.nesterov = False
    config.optimizer.rho = 0.9
    config.optimizer.eps = 1.0
    config.optimizer.weight_decay = 4e-5
    config.optimizer.clip_grad_norm = 2.0
    config.schedule.name = "exponential"
    config.schedule.warmup_epochs = 0.0
    config.schedule.decay_rate = 0.94 ** 0.5
    return config
