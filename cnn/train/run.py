"""What a config builds before training or evaluating: data, model, schedule, train state, checkpoints."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

import jax
import ml_collections
import optax
from jax.sharding import Mesh

from cnn import data, models
from cnn.config import ConfigError, as_json, run_changing_differences
from cnn.data.sources import RandomAccessSplit
from cnn.distributed import is_lead
from cnn.train.checkpoint import Checkpointer
from cnn.train.compiled import compile_steps
from cnn.train.optim import build_optimizer, build_schedule
from cnn.train.sharding import check_batch_size, make_mesh, on_mesh
from cnn.train.state import TrainState, create_train_state


@dataclasses.dataclass
class Run:
    config: ml_collections.ConfigDict
    dataset: data.Dataset
    per_epoch: int
    total_steps: int
    schedule: optax.Schedule
    state: TrainState  # freshly initialised; restore from `checkpointer` to continue a run
    dropout_key: jax.Array
    checkpointer: Checkpointer
    mesh: Mesh
    train_fn: Callable  # (state, batch, dropout_key) -> (state, metrics), jitted for the mesh, donates state
    eval_fn: Callable  # (state, batch) -> {loss, top1, top5, count} sums, jitted for the mesh

    # Placed on the devices when first read, so runs that only evaluate place only the test split.
    @functools.cached_property
    def train_data(self) -> RandomAccessSplit:
        """The train split as the batch pipeline reads it: on the devices where it fits (`on_mesh`)."""
        return on_mesh(self.dataset.train, self.mesh)

    @functools.cached_property
    def test_data(self) -> RandomAccessSplit:
        """The test split as the batch pipeline reads it: on the devices where it fits (`on_mesh`)."""
        return on_mesh(self.dataset.test, self.mesh)


def every(steps: int, per_epoch: int) -> int:
    """A config interval in steps; zero or less means once per epoch."""
    return steps if steps > 0 else per_epoch


def total_steps(config: Mapping[str, Any], per_epoch: int) -> int:
    """The run's length in steps: `num_train_steps` if positive, else `num_epochs` epochs. `config` is the
    ConfigDict or its config.json."""
    if config["num_train_steps"] > 0:
        return config["num_train_steps"]
    if config["num_epochs"] <= 0:
        raise ConfigError("set config.num_epochs or config.num_train_steps to a positive number")
    return round(config["num_epochs"] * per_epoch)


def _create_model(config: ml_collections.ConfigDict, num_classes: int):
    overrides = {k: v for k, v in config.model.items() if k != "name"}
    try:
        return models.create(config.model.name, num_classes=num_classes, **overrides)
    except ValueError as e:
        raise ConfigError(f"config.model: {e}") from None


def wants_transfer(config: ml_collections.ConfigDict) -> bool:
    """Whether `config` fine-tunes a source run: a `transfer` section naming one (`cnn.transfer.finetune`)."""
    return bool(config.get("transfer") and config.transfer.get("source"))


def load_dataset(dataset: ml_collections.ConfigDict) -> data.Dataset:
    """The dataset `config.dataset` names, with its class and few-shot subsets."""
    # .get: the subset keys came with transfer learning; configs written before them load the whole set.
    return data.load(dataset.name, dataset.data_dir or None, image_size=dataset.image_size,
                     train_split=dataset.train_split, eval_split=dataset.eval_split,
                     classes=tuple(dataset.get("classes", ())), train_per_class=dataset.get("train_per_class", 0),
                     subset_seed=dataset.get("subset_seed", 0))


def check_workdir(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Refuses a workdir whose config.json describes a different run, listing the keys that differ."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        differences = run_changing_differences(f.read(), config)
    if differences:
        raise ConfigError(
            f"{workdir} holds a run with another config ({path}); these keys change the run "
            f"(saved -> new): " + "; ".join(differences) + ". Use a new --workdir, or pass the "
            "saved values (--config.KEY=VALUE) to continue this run")


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Writes `workdir/config.json` atomically (after check_workdir has accepted it), from process 0 only."""
    if not is_lead():
        return
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "config.json")
    with open(path + ".tmp", "w") as f:
        f.write(as_json(config))
    os.replace(path + ".tmp", path)


def build_run(config: ml_collections.ConfigDict, workdir: str) -> Run:
    """Loads the dataset and initialises the model, optimizer, checkpointer and compiled steps that `config` names."""
    mesh = make_mesh(config.mesh.data)
    check_batch_size(config.batch_size, mesh)
    dataset = load_dataset(config.dataset)
    try:
        per_epoch = data.steps_per_epoch(len(dataset.train), config.batch_size)
    except ValueError as e:
        raise ConfigError(f"config.batch_size: {e}") from None
    steps = total_steps(config, per_epoch)
    schedule = build_schedule(config.schedule, config.optimizer.learning_rate, per_epoch, steps)
    tx = build_optimizer(config.optimizer, schedule, config.get("nonfinite", "stop"))
    fine_tuning = None
    if wants_transfer(config):
        # Imported here: cnn.transfer builds on cnn.train (a source run is read back by cnn.train.trained).
        from cnn.transfer.finetune import fine_tuning as build_fine_tuning
        fine_tuning = build_fine_tuning(config, dataset, tx, per_epoch)
        model, tx = fine_tuning.model, fine_tuning.tx
    else:
        model = _create_model(config, dataset.num_classes)
    init_key, dropout_key = jax.random.split(jax.random.key(config.seed))
    try:
        state = create_train_state(model, tx, init_key, dataset.image_shape, config.init.name, config.init.std)
    except ValueError as e:  # bad init.* values (the message names the key), or a model that cannot take these images
        message = str(e)
        if not message.startswith("config."):
            h, w, c = dataset.image_shape
            dh, dw, dc = models.spec(config.model.name).input_shape
            message = (f"config.model.name={config.model.name} cannot take the {h}×{w}×{c} images of {dataset.name} "
                       f"(it was designed for {dh}×{dw}×{dc}): {message}")
        raise ConfigError(message) from None
    if fine_tuning is not None:
        state = fine_tuning.start(state, config.transfer.strategy)
    train_fn, eval_fn = compile_steps(config, dataset, mesh)
    # .get: runs written before the key existed are still read back (load_trained, resume)
    keep_steps = [round(epoch * per_epoch) for epoch in config.get("keep_checkpoint_epochs", ())]
    checkpointer = Checkpointer(workdir, every(config.checkpoint_every_steps, per_epoch),
                                config.keep_checkpoints, config.keep_best_checkpoints, keep_steps)
    return Run(config, dataset, per_epoch, steps, schedule, state, dropout_key, checkpointer,
               mesh, train_fn, eval_fn)
