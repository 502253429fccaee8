r"""DenseNet-BC (L = 100, k = 12) on CIFAR-10 with Huang et al. 2017's recipe (§4.2).

    python launch.py train --config experiments/cifar10/densenet_bc_100_12.py --workdir runs/cifar10_densenet_bc

Recipe: SGD with Nesterov momentum 0.9 (no dampening), weight decay 1e-4, batch 64, 300 epochs,
learning rate 0.1 divided by 10 at 50% and 75% of training (epochs 150 and 225); He
initialisation; per-channel mean/std normalisation; 4-pixel zero-padded translations and flips (the
"C10+" column), hence no dropout (the paper's 0.2 dropout is for the sets without augmentation).
The authors' Torch code also decays batch-norm scales and biases; cnn decays only kernels.
Published: 4.51% test error (Huang et al. 2017, Table 2, C10+).
Measured by cnn: not yet (needs a lent GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.9549, "source": "Huang et al. 2017, Table 2 (C10+, 4.51% error)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "densenet_bc_100_12"
    config.dataset.name = "tfds:cifar10"
    config.batch_size = 64
    config.num_epochs = 300
    config.augment.crop_padding = 4
    config.augment.flip = True
    config.optimizer.learning_rate = 0.1
    config.optimizer.nesterov = True
    config.optimizer.weight_decay = 1e-4
    config.schedule.name = "step"
    config.schedule.warmup_epochs = 0.0
    config.schedule.boundaries_epochs = (150, 225)
    config.schedule.decay_factor = 0.1
    return config
