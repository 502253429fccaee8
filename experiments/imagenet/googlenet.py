r"""GoogLeNet (Inception v1, the paper's form) on ImageNet with Szegedy et al. 2015's recipe (§6).

    python launch.py train --config experiments/imagenet/googlenet.py --workdir runs/imagenet_googlenet

Recipe: SGD with momentum 0.9, learning rate decreased by 4% every 8 epochs (here smoothly,
0.96^(1/8) per epoch), the two auxiliary classifiers' losses weighted by 0.3, dropout 0.4 (0.7 in
the auxiliary heads). The paper trained asynchronously on a CPU cluster and states neither the
batch size, the initial rate, the weight decay nor the epoch count: 256, 0.01 and 2e-4 (the
BVLC Caffe reproduction's rate and decay) and 90 here. Its crops sample 8-100%
of the area with aspect 3/4-4/3, which is cnn's random resized crop. Not in cnn: the photometric
distortions (Howard 2013) the paper adds, and the Polyak averaging of the weights it evaluates.
torchvision's batch-norm form: --config.model.name=googlenet.
Published: 10.07% top-5 error, one model, one crop (Szegedy et al. 2015, Table 3).
Measured by cnn: not yet (ImageNet is not on this machine; needs `tfds build imagenet2012` and a GPU).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config


PUBLISHED = {"top1": None, "source": "Szegedy et al. 2015, Table 3: top-5 error 10.07% only"}


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "googlenet_2014"
    config.dataset.name = "tfds:imagenet2012"
    config.dataset.image_size = 224
    config.dataset.eval_split = "validation"
    config.batch_size = 256
    config.num_epochs = 90
    config.augment.flip = True
    config.aux_loss_weight = 0.3
    config.optimizer.learning_rate = 0.01
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 2e-4
    config.schedule.name = "exponential"
    config.schedule.warmup_epochs = 0.0
    config.schedule.decay_rate = 0.96 ** (1 / 8)
    return config
