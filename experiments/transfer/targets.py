"""The transfer study's targets and its one fine-tuning recipe, shared by the configs of each source model."""

import os

import ml_collections

from cnn.config import load_config

SOURCE_CLASSES = (0, 1, 2, 3, 4)  # T-shirt/top, Trouser, Pullover, Dress, Coat: the sources' classes
TARGET_CLASSES = (5, 6, 7, 8, 9)  # Sandal, Shirt, Sneaker, Bag, Ankle boot: never seen by the sources
TARGETS = {
    # dataset, image size, classes, training images per class, training images, batch size, steps
    "digits": ("digits", 28, (), 0, 898, 64, 420),
    "fashion10": ("fashion_mnist", 0, TARGET_CLASSES, 10, 50, 25, 200),
    "fashion100": ("fashion_mnist", 0, TARGET_CLASSES, 100, 500, 50, 300),
}
_BASE = os.path.join(os.path.dirname(__file__), "..", "fashion_mnist", "lenet5.py")


def source_config(model: str, num_epochs: int) -> ml_collections.ConfigDict:
    """The default Fashion-MNIST recipe for `model` on the source classes, every training image of them."""
    config = load_config(_BASE)
    with config.unlocked():
        config.model.name = model
        config.num_epochs = num_epochs
        config.keep_checkpoint_epochs = ()
        config.dataset.classes = SOURCE_CLASSES  # relabelled 0..4; images keep the full set's normalisation
        config.dataset.train_per_class = 0  # 0: every training image of those classes
        config.dataset.subset_seed = 0
    return config


def fine_tune_config(model: str, target: str, cut: str, freeze_until: str) -> ml_collections.ConfigDict:
    """Fine-tuning `model` on `target`: a new head at tap `cut`; freeze and fade hold the groups up to
    `freeze_until`."""
    if target not in TARGETS:
        raise ValueError(f"unknown transfer target {target!r}; use one of {', '.join(TARGETS)}")
    name, image_size, classes, per_class, images, batch_size, steps = TARGETS[target]
    per_epoch = images // batch_size
    config = load_config(_BASE)
    with config.unlocked():
        config.model.name = model
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
        config.transfer.cut = cut  # the tap that feeds the new head; the layers after it are dropped
        config.transfer.head_input = "avg"  # feature-map cuts: avg (global average pool) or flatten
        config.transfer.strategy = "fade"  # scratch, all, freeze or fade
        config.transfer.freeze_until = freeze_until  # freeze and fade: the deepest group held at the source's values
        config.transfer.fade_start_epochs = 0.0  # when the deepest frozen group starts to thaw
        config.transfer.fade_epochs = steps / 4 / per_epoch  # how long each group's ramp from 0 to 1 lasts
        config.transfer.fade_stagger_epochs = steps / 8 / per_epoch  # each shallower group starts this much later
        config.transfer.layer_decay = 1.0  # < 1: discriminative rates, decay^k for the k-th group below the head
    return config
