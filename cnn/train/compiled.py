"""The jitted, mesh-sharded train and eval functions a config asks for.

Binds the step options (input preparation on device, compute precision, label smoothing)
and compiles the steps for the mesh with `cnn.train.sharding`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
from jax.sharding import Mesh

from cnn.config import ConfigError
from cnn.data import Dataset, augment
from cnn.train.sharding import jit_eval_step, jit_train_step, one_call_in_flight
from cnn.train.steps import Prepare, eval_step, train_step

COMPUTE_DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}


def compute_dtype(name: str, key: str = "config.compute_dtype"):
    """None (float32 throughout) or the dtype of the forward and backward passes; `key` names the setting."""
    if name not in COMPUTE_DTYPES:
        raise ConfigError(f"{key} '{name}': use one of {', '.join(COMPUTE_DTYPES)}")
    return COMPUTE_DTYPES[name]


def input_normalizer(dataset: Dataset) -> Callable[[jax.Array], jax.Array]:
    """uint8 batches (TFDS) are normalised on device by the dataset's statistics; float ones already are."""

    def normalize(images: jax.Array) -> jax.Array:
        if images.dtype == jnp.uint8:
            return augment.normalize(images, dataset.mean, dataset.std)
        return images

    return normalize


def train_input(config: ml_collections.ConfigDict, dataset: Dataset) -> Prepare:
    """`prepare(images, step, labels) -> (model input, targets)`: normalisation, then the augmentations of
    `config.augment`, drawn from (seed, step). The targets are the labels as they are or, with mixup on,
    their one-hot distributions [N, classes] mixed like the images. Raises ConfigError for augment values
    that cannot apply to the dataset's images.
    """
    augment.check_config(config.augment, dataset.image_shape)
    normalize = input_normalizer(dataset)
    mixes = config.augment.get("mixup", 0) > 0

    def prepare(images: jax.Array, step: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
        images = normalize(images)
        if not augment.enabled(config.augment):
            return images, labels
        targets = jax.nn.one_hot(labels, dataset.num_classes) if mixes else labels
        return augment.augment(augment.augmentation_key(config.seed, step), images, config.augment, std=dataset.std,
                               targets=targets)

    return prepare


def compile_steps(config: ml_collections.ConfigDict, dataset: Dataset, mesh: Mesh) -> tuple[Callable, Callable]:
    """(train_fn(state, batch, rng) -> (state, metrics), eval_fn(state, batch) -> sums), jitted for `mesh`."""
    dtype = compute_dtype(config.compute_dtype)
    if not 0.0 <= config.label_smoothing < 1.0:
        raise ConfigError(f"config.label_smoothing {config.label_smoothing} must lie in [0, 1)")
    train = functools.partial(train_step, prepare=train_input(config, dataset), compute_dtype=dtype,
                              label_smoothing=config.label_smoothing, aux_loss_weight=config.aux_loss_weight)
    evaluate = functools.partial(eval_step, normalize=input_normalizer(dataset), compute_dtype=dtype)
    return (one_call_in_flight(jit_train_step(train, mesh), mesh),
            one_call_in_flight(jit_eval_step(evaluate, mesh), mesh))
