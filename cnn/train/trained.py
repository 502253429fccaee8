"""A finished run read back from its workdir: the model, its trained variables and the images it saw."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from cnn import data
from cnn.config import ConfigError
from cnn.train.checkpoint import CheckpointError
from cnn.train.compiled import input_normalizer
from cnn.train.run import Run, build_run


@dataclasses.dataclass
class Trained:
    config: ml_collections.ConfigDict  # the run's config.json
    model: nn.Module
    variables: dict[str, Any]  # {"params": ..., "batch_stats": ...} as `model.apply` takes them
    dataset: data.Dataset
    step: int  # the checkpoint's step
    workdir: str

    def test_images(self, count: int) -> jax.Array:
        """The first `count` test images, normalised as the model saw them in training."""
        batch = next(data.eval_batches(self.dataset.test, min(count, len(self.dataset.test))))
        return input_normalizer(self.dataset)(jnp.asarray(batch["image"]))


def read_run(workdir: str) -> Run:
    """The run in `workdir` rebuilt from the config it was trained by, fresh state and open checkpointer (close
    it); CheckpointError or ConfigError naming what is missing or damaged."""
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise CheckpointError(f"{os.path.abspath(workdir)} holds no config.json: not a run's workdir "
                              "(launch.py train --workdir DIR writes one)")
    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        raise CheckpointError(f"no checkpoints in {os.path.abspath(workdir)}; train first (launch.py train)")
    with open(path) as f:
        try:
            config = ml_collections.ConfigDict(json.load(f))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not valid JSON ({e}); it was damaged after the run wrote it") from None
    return build_run(config, workdir)


def run_model(run: Run) -> nn.Module:
    """The run's model: its state's apply_fn is the model's bound apply."""
    return run.state.apply_fn.__self__


def load_trained(workdir: str, which: str = "latest") -> Trained:
    """The checkpoint `which` (latest, best or a step) of the run in `workdir`, with the config it was trained by."""
    run = read_run(workdir)
    try:
        step = run.checkpointer.resolve(which)
        state = run.checkpointer.restore(run.state, step)
    finally:
        run.checkpointer.close()
    variables = {"params": state.params, **({"batch_stats": state.batch_stats} if state.batch_stats else {})}
    return Trained(run.config, run_model(run), variables, run.dataset, step, workdir)
