"""The default experiment's config shrunk to a 12-step run on the tiny IDX set, for tests that train."""

import os

from cnn.config import load_config

CONFIG = os.path.join(os.path.dirname(__file__), "..", "experiments", "fashion_mnist", "lenet5.py")


def tiny_config(data_dir, **overrides):
    """Batch 16, 12 steps, a train line every 2, evaluation and a checkpoint every 4 (the latest 3 kept, no
    per-epoch keepers), constant learning rate; `overrides` set top-level keys."""
    config = load_config(CONFIG)
    config.dataset.data_dir = str(data_dir)
    config.batch_size = 16
    config.num_train_steps = 12
    config.log_every_steps = 2
    config.eval_every_steps = 4
    config.checkpoint_every_steps = 4
    config.keep_checkpoint_epochs = ()
    config.schedule.name = "constant"
    config.schedule.warmup_epochs = 0.0
    for key, value in overrides.items():
        config[key] = value
    return config


def without_speed(records):
    """metrics.jsonl records without the fields that measure wall time, which no rerun reproduces."""
    return [{k: v for k, v in r.items() if k not in ("images_per_sec", "wall_s")} for r in records]
