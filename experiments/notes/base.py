"""The recipe the notes' experiments share, and how each study names its runs.

Every study is one config file here with `get_config(variant)`, a `STUDY` saying which runs make the
comparison (a variant and its `--config.KEY=VALUE` overrides each), the claim of the notes it tests and
what to read off the runs. `experiments/notes/study.py` trains them and records what they reached.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import ml_collections

from cnn.config import load_config

_DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fashion_mnist", "lenet5.py")


@dataclasses.dataclass(frozen=True)
class Run:
    variant: str
    overrides: Mapping[str, object] = dataclasses.field(default_factory=dict)

    @property
    def label(self) -> str:
        """The run's workdir name: the variant, then each override's last key part and value."""
        parts = [self.variant, *(f"{key.rsplit('.', 1)[-1]}{value}" for key, value in self.overrides.items())]
        return "_".join(parts).replace("learning_rate", "lr")


@dataclasses.dataclass(frozen=True)
class Study:
    title: str
    claim: str  # what the notes say, with the source
    runs: tuple[Run, ...]
    # Training-error levels whose first crossing (in steps) the table reports, e.g. AlexNet's 25%.
    error_levels: tuple[float, ...] = ()


def base_config(model: str, epochs: float, *, train_per_class: int = 0, learning_rate: float = 0.05,
                optimizer: str = "sgd") -> ml_collections.ConfigDict:
    """The default Fashion-MNIST recipe, plainer: constant learning rate, no weight decay, no label
    smoothing, no Nesterov, so the one thing a study varies is the only difference; `train_per_class` > 0
    trains on that many images of each class (overfitting shows sooner); a train log line every 20 steps
    for the curves."""
    config = load_config(_DEFAULT)
    with config.unlocked():
        config.model.name = model
        config.num_epochs = epochs
        config.log_every_steps = 20
        config.keep_checkpoints = 1
        config.keep_best_checkpoints = 0
        config.keep_checkpoint_epochs = ()
        config.dataset.classes = ()
        config.dataset.train_per_class = train_per_class
        config.dataset.subset_seed = 0
        config.optimizer.name = optimizer
        config.optimizer.learning_rate = learning_rate
        config.optimizer.nesterov = False
        config.optimizer.weight_decay = 0.0
        config.label_smoothing = 0.0
        config.schedule.name = "constant"
        config.schedule.warmup_epochs = 0.0
    return config


def small_vgg(config: ml_collections.ConfigDict, kernels: tuple[tuple[int, ...], ...], batch_norm: bool) -> None:
    """A VGG-style net for 28×28 inputs: 3×3 convolutions in blocks of 16, 32, 64 channels, each closed by a
    2×2 max pool, then a 128-128-10 classifier on the 3×3 map, without dropout."""
    with config.unlocked():
        config.model.name = "vgg11"
        config.model.kernels = kernels
        config.model.widths = (16, 32, 64)
        config.model.batch_norm = batch_norm
        config.model.pool_size = 3
        config.model.hidden = 128
        config.model.dropout = 0.0
