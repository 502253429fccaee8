r"""EfficientNet-B0 on ImageNet with Tan & Le 2019's recipe (§5.2, which follows MnasNet's, Tan et al. 2019 §4.2).

    python launch.py train --config experiments/imagenet/efficientnet_b0.py --workdir runs/imagenet_efficientnet_b0

Recipe: RMSProp with decay 0.9 and momentum 0.9, BN momentum 0.99, weight decay 1e-5, learning rate 0.256
warmed up over 5 epochs and decayed by 0.97 every 2.4 epochs (here smoothly, 0.97^(1/2.4) per epoch),
batch 4,096 (MnasNet's "4K", for which 0.256 is 0.016 per 256), dropout 0.2 and stochastic depth with
survival probability 0.8 (the model's defaults), 224×224 crops. The paper gives no epoch count; 350 and
label smoothing 0.1 are the authors' TPU code's (tensorflow/tpu, models/official/efficientnet), whose
RMSProp epsilon 1e-3 sits inside the square root (cnn's outside, as torch's) and whose L2 term also
decays the SE and classifier biases (cnn's only kernels); that code also decays in steps of 2.4
epochs counted from step 0, where cnn's decay is smooth and starts after the warm-up (so cnn's rate
is 0.97^(5/2.4) ≈ 1.07 times theirs after it). Not in cnn: AutoAugment (flips only here),
the weights' moving average (decay 0.9999) that the authors evaluate, and early stopping on a 25k-image
minival split. Other variants: --config.model.name=efficientnet_b1 … efficientnet_b7 with
--config.dataset.image_size=240 … 600 (their dropout rises to 0.5 with the model).
Published: 77.1% top-1, 93.3% top-5 (B0, Tan & Le 2019, Table 2).
Measured by cnn: not yet (ImageNet is not on this machine; needs `tfds build imagenet2012` and a GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.771, "source": "Tan & Le 2019, Table 2"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "efficientnet_b0"
    with config.unlocked():
        config.model.bn_momentum = 0.99  # the paper's; torchvision's b0 default is PyTorch's 0.1 (our 0.9)
    config.dataset.name = "tfds:imagenet2012"
    config.dataset.image_size = 224
    config.dataset.eval_split = "validation"
    config.batch_size = 4096
    config.num_epochs = 350
    config.augment.flip = True
    config.label_smoothing = 0.1
    config.optimizer.name = "rmsprop"
    config.optimizer.learning_rate = 0.256
    config.optimizer.momentum = 0.9
    config.optimizer.nesterov = False
    config.optimizer.rho = 0.9
    config.optimizer.eps = 1e-3
    config.optimizer.weight_decay = 1e-5
    config.schedule.name = "exponential"
    config.schedule.warmup_epochs = 5.0
    config.schedule.decay_rate = 0.97 ** (1 / 2.4)
    return config
