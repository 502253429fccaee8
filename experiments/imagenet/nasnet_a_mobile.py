r"""NASNet-A Mobile (4 @ 1056) on ImageNet with TF-slim's recipe for it (Zoph et al. 2018).

    python launch.py train --config experiments/imagenet/nasnet_a_mobile.py --workdir runs/imagenet_nasnet_a_mobile

Recipe, from TF-slim's notes for the mobile ImageNet model (nets/nasnet/nasnet.py) and the defaults of its
train_image_classifier.py: RMSProp with decay 0.9, momentum 0.9 and epsilon 1.0, learning rate 0.04 · 50
(its 50 synchronous replicas) decayed by 0.97 every 2.4 epochs (here smoothly, 0.97^(1/2.4) per epoch),
weight decay 4e-5 on the kernels, gradients clipped to global norm 10, label smoothing 0.1, batch 32 on each
of 50 replicas (1,600), the auxiliary head with loss weight 0.4, dropout 0.5 before the classifier (the
model's default), no drop path (keep probability 1.0 for Mobile); 224×224 crops with flips. No epoch count
is given: TF-slim's total_training_steps of 250,000 at 1,600 images a step is 312 epochs. TensorFlow's
RMSProp adds epsilon inside the square root and starts its mean square at 1; cnn's adds it outside and
starts at 0, as torch does. NASNet-A Large: --config.model.name=nasnet_a_large at 331 (its own recipe:
learning rate 0.015 · 100 on 100 replicas of 16, weight decay 5e-5, drop path keep probability 0.7, which
cnn does not model).
Published: 74.0% top-1, 91.6% top-5 for NASNet-A (4 @ 1056), 5.3M parameters (Zoph et al. 2018, the
mobile-setting table).
Measured by cnn: not yet (ImageNet is not on this machine; needs `tfds build imagenet2012` and a GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": 0.74, "source": "Zoph et al. 2018, mobile-setting table"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "nasnet_a_mobile"
    with config.unlocked():
        config.model.aux_logits = True
    config.dataset.name = "tfds:imagenet2012"
    config.dataset.image_size = 224
    config.dataset.eval_split = "validation"
    config.batch_size = 1600
    config.num_epochs = 312
    config.augment.flip = True
    config.label_smoothing = 0.1
    config.aux_loss_weight = 0.4
    config.optimizer.name = "rmsprop"
    config.optimizer.learning_rate = 0.04 * 50
    config.optimizer.momentum = 0.9
    config.optimizer.nesterov = False
    config.optimizer.rho = 0.9
    config.optimizer.eps = 1.0
    config.optimizer.weight_decay = 4e-5
    config.optimizer.clip_grad_norm = 10.0
    config.schedule.name = "exponential"
    config.schedule.warmup_epochs = 0.0
    config.schedule.decay_rate = 0.97 ** (1 / 2.4)
    return config
