r"""ShuffleNet V2 1× on ImageNet with the ShuffleNet recipe (Zhang et al. 2018 §4, which Ma et al. 2018 train with).

    python launch.py train --config experiments/imagenet/shufflenet_v2_x1_0.py --workdir runs/imagenet_shufflenet_v2

Recipe: SGD with momentum 0.9, weight decay 4e-5 (ResNeXt's recipe uses 1e-4; small nets underfit rather
than overfit), batch 1024, learning rate 0.5 decayed linearly to 0 over 300k iterations (240 epochs of the
1,281,167 training images), 224 crops with flips. cnn has no linear schedule: cosine decay to 0 over the same
300k steps stands in for it. The authors' release (megvii-model/ShuffleNet-Series, train.py) adds label
smoothing 0.1, kept here; the paper's scale augmentation (milder than ResNeXt's) and the release's colour
jitter are not in cnn's pipeline. The other widths: --config.model.name=shufflenet_v2_x0_5,
shufflenet_v2_x1_5, shufflenet_v2_x2_0; ShuffleNet v1: shufflenet_v1_g3 (the paper's recipe is the same).
Published: 69.4% top-1 (30.6% error; Ma et al. 2018, Table 8, ShuffleNet v2 1×, 146 MFLOPs).
Measured by cnn: not yet (ImageNet is not on this machine; needs `tfds build imagenet2012` and a GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.694, "source": "Ma et al. 2018, Table 8 (30.6% error)"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "shufflenet_v2_x1_0"
    config.dataset.name = "tfds:imagenet2012"
    config.dataset.image_size = 224
    config.dataset.eval_split = "validation"
    config.batch_size = 1024
    config.num_epochs = 240
    config.num_train_steps = 300_000
    config.label_smoothing = 0.1
    config.augment.flip = True
    config.optimizer.learning_rate = 0.5
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 4e-5
    config.schedule.name = "cosine"
    config.schedule.warmup_epochs = 0.0
    return config
