r"""WRN-28-10 with dropout on CIFAR-10 with Zagoruyko & Komodakis 2016's recipe (§3).

    python launch.py train --config experiments/cifar10/wrn28_10.py --workdir runs/cifar10_wrn28_10

Recipe: SGD with Nesterov momentum 0.9, weight decay 5e-4, batch 128, 200 epochs, learning rate
0.1 multiplied by 0.2 at epochs 60, 120 and 160, dropout 0.3 between the convolutions of each
block; 4-pixel reflection padding with random crops and flips (cnn pads by reflection with
crop_mode "reflect"); mean/std normalisation, He initialisation. The authors' Torch code also
decays batch-norm scales and biases; cnn decays only kernels. Other widths and depths:
--config.model.name=wrn16_8, wrn40_4.
Published: 3.89% test error (Zagoruyko & Komodakis 2016, Table 6, WRN-28-10-dropout; 4.00% without).
Measured by cnn: not yet (needs a lent GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.9611, "source": "Zagoruyko & Komodakis 2016, Table 6 (3.89% error, dropout)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "wrn28_10"
    with config.unlocked():
        config.model.dropout = 0.3
    config.dataset.name = "tfds:cifar10"
    config.batch_size = 128
    config.num_epochs = 200
    config.augment.crop_padding = 4
    config.augment.crop_mode = "reflect"
    config.augment.flip = True
    config.optimizer.learning_rate = 0.1
    config.optimizer.nesterov = True
    config.optimizer.weight_decay = 5e-4
    config.schedule.name = "step"
    config.schedule.warmup_epochs = 0.0
    config.schedule.boundaries_epochs = (60, 120, 160)
    config.schedule.decay_factor = 0.2
    return config
