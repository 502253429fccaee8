r"""Fine-tuning the transfer study's LeNet-5 (trained on Fashion-MNIST classes 0-4) on a small target.

    python launch.py transfer --config experiments/transfer/lenet5.py:TARGET \
        --source runs/transfer/lenet5_source --workdir runs/transfer/lenet5_TARGET_STRATEGY \
        --config.transfer.strategy=STRATEGY [--config.seed=S]

TARGET is one of
  digits     scikit-learn's 8×8 handwritten digits, upsampled to 28×28: 898 training and 899 test images
  fashion10  Fashion-MNIST classes 5-9 (unseen by the source), 10 training images per class; all 5,000 test images
  fashion100 the same with 100 training images per class

STRATEGY is scratch, all, freeze or fade (cnn/transfer/strategies.py). One recipe for all four, so
they differ only in where the weights start and what trains: the new head reads F6 (only the
source's 5-way output layer is dropped); freeze and fade hold C1-C3, fade thaws them from the top
down over the first half of the run. The few-shot subsets are drawn with the run's seed.
`python experiments/transfer/study.py` runs every target × strategy × 3 seeds and writes the
README's table. Measured: see README, "Transfer learning".
"""

import os

import ml_collections

from cnn.config import load_config

TARGETS = {
    # dataset, image size, classes, training images per class, training images, batch size, steps
    "digits": ("digits", 28, (), 0, 898, 64, 420),
    "fashion10": ("fashion_mnist", 0, (5, 6, 7, 8, 9), 10, 50, 25, 200),
    "fashion100": ("fashion_mnist", 0, (5, 6, 7, 8, 9), 100, 500, 50, 300),
}


def get_config(target: str = "digits") -> ml_collections.ConfigDict:
    if target not in TARGETS:
        raise ValueError(f"unknown transfer target {target!r}; use one of {', '.join(TARGETS)}")
    name, image_size, classes, per_class, images, batch_size, steps = TARGETS[target]
    per_epoch = images // batch_size
    config = load_config(os.path.join(os.path.dirname(__file__), "..", "fashion_mnist", "lenet5.py"))
    with config.unlocked():
        config.batch_size = batch_size
        config.num_train_steps = steps
        config.eval_every_steps = steps // 2
        config.log_every_steps = 20
        config.checkpoint_every_steps = steps // 2
        config.keep_checkpoint_epochs = ()
        config.dataset.name = name
        config.dataset.image_size = image_size
        config.dataset.classes = classes
        config.dataset.train_per_class = per_class
        config.dataset.subset_seed = config.get_ref("seed")  # a new draw of the few shots per seed
        config.optimizer.learning_rate = 0.02
        config.schedule.warmup_epochs = 0.0

        config.transfer = ml_collections.ConfigDict()
        config.transfer.source = ""  # the source run's workdir; launch.py transfer --source sets it
        config.transfer.checkpoint = "best"  # best, latest or a step of the source run
        config.transfer.cut = "f6"  # the tap that feeds the new head; the layers after it are dropped
        config.transfer.head_input = "avg"  # feature-map cuts: avg (global average pool) or flatten
        config.transfer.strategy = "fade"  # scratch, all, freeze or fade
        config.transfer.freeze_until = "c3"  # freeze and fade: the deepest layer group held at the source's values
        config.transfer.fade_start_epochs = 0.0  # when the deepest frozen group starts to thaw
        config.transfer.fade_epochs = steps / 4 / per_epoch  # how long each group's ramp from 0 to 1 lasts
        config.transfer.fade_stagger_epochs = steps / 8 / per_epoch  # each shallower group starts this much later
        config.transfer.layer_decay = 1.0  # < 1: discriminative rates, decay^k for the k-th group below the head
    return config
