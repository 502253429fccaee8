r"""MobileNetV2 on ImageNet with Sandler et al. 2018's recipe (§6.1).

    python launch.py train --config experiments/imagenet/mobilenet_v2.py --workdir runs/imagenet_mobilenet_v2

Recipe: RMSProp with decay 0.9 and momentum 0.9, weight decay 4e-5, initial learning rate 0.045
decayed by 0.98 per epoch, batch 96 on each of 16 GPUs (1,536); 224 crops with flips. The paper
gives no epoch count; 300 here takes the rate down to 0.045 · 0.98³⁰⁰ ≈ 1e-4. TensorFlow's RMSProp
adds epsilon inside the square root; cnn's adds it outside, as torch does; the paper states no
epsilon (1e-3 here, as the authors' TPU code for MnasNet and EfficientNet), no label smoothing and
no warm-up. Its 16 workers were asynchronous; cnn's 1,536 is one synchronous batch.
MobileNet v1: --config.model.name=mobilenet_v1; v3: mobilenet_v3_large, mobilenet_v3_small.
Published: 72.0% top-1 (Sandler et al. 2018, Table 4).
Measured by cnn: not yet (ImageNet is not on this machine; needs `tfds build imagenet2012` and a GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.72, "source": "Sandler et al. 2018, Table 4"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "mobilenet_v2"
    config.dataset.name = "tfds:imagenet2012"
    config.dataset.image_size = 224
    config.dataset.eval_split = "validation"
    config.batch_size = 1536
    config.num_epochs = 300
    config.augment.flip = True
    config.optimizer.name = "rmsprop"
    config.optimizer.learning_rate = 0.045
    config.optimizer.momentum = 0.9
    config.optimizer.nesterov = False
    config.optimizer.rho = 0.9
    config.optimizer.eps = 1e-3
    config.optimizer.weight_decay = 4e-5
    config.schedule.name = "exponential"
    config.schedule.warmup_epochs = 0.0
    config.schedule.decay_rate = 0.98
    return config
