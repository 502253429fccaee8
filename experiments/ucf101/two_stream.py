r"""Two-stream ConvNet (Simonyan & Zisserman 2014) with the paper's from-scratch recipe, on a synthetic stand-in
for UCF-101: 224×224 inputs of 3 RGB + 20 flow channels (L = 10), 101 classes.

    python launch.py train --config experiments/ucf101/two_stream.py --workdir runs/ucf101_two_stream

UCF-101 is a set of videos, and cnn's data pipeline serves images only (IDX files, TFDS sets with an
"image" feature, synthetic), with no optical flow; so this config names `synthetic:224x224x23:101`, a
random source of the model's input shape, and proves the model and recipe run end to end, not that they
learn actions. Recipe (§5, from memory): SGD, momentum 0.9, batch 256, learning rate 1e-2, divided by
10 after 50K and 70K iterations, 80K in all (the temporal net's training from scratch; the paper
fine-tunes the ImageNet-pre-trained spatial net for 20K iterations instead, and trains the two streams
separately, where this trains them jointly through the fused score, see `cnn.models.two_stream`).
Weight decay 5e-4 is assumed. No flips: mirroring a flow stack must also negate its x channels, which
cnn's flip does not do.
Published: 86.9% mean accuracy over the three UCF-101 splits for the two streams fused by averaging
(88.0% fused by an SVM; 73.0% spatial, 83.7% temporal alone), Simonyan & Zisserman 2014, Table 4 (quoted
from memory).
Measured by cnn: not yet (no UCF-101 source; on the synthetic stand-in the number would mean nothing).
"""

from pathlib import Path

import ml_collections

from cnn.config import load_config
from cnn.data.synthetic import TRAIN_EXAMPLES


def get_config() -> ml_collections.ConfigDict:
    config = load_config(str(Path(__file__).parents[1] / "fashion_mnist" / "lenet5.py"))
    config.model.name = "two_stream"
    config.dataset.name = "synthetic:224x224x23:101"
    config.batch_size = 256
    config.num_train_steps = 80_000
    config.optimizer.learning_rate = 1e-2
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 5e-4
    config.schedule.name = "step"
    config.schedule.warmup_epochs = 0.0
    # The paper's boundaries are in iterations, the schedule counts epochs of the (synthetic) training set:
    # recompute them when overriding batch_size.
    per_epoch = TRAIN_EXAMPLES // config.batch_size
    config.schedule.boundaries_epochs = (50_000 / per_epoch, 70_000 / per_epoch)
    config.schedule.decay_factor = 0.1
    return config
