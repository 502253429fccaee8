"""The train state: parameters, BatchNorm statistics and optimizer state, as one pytree."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from cnn.keys import flat
from cnn.models.init import reinitialize


class TrainState(train_state.TrainState):
    # Running statistics of BatchNorm layers; empty for models without them.
    batch_stats: Any = None


def create_train_state(
    model: nn.Module, tx: optax.GradientTransformation, key: jax.Array, input_shape: tuple[int, ...],
    init: str = "default", init_std: float = 0.01,
) -> TrainState:
    """Initialises `model` on a dummy batch of `input_shape` (H, W, C) and wraps it with `tx`.

    `init` other than "default" redraws the kernels by that scheme (`cnn.models.init`).
    """
    def build(key: jax.Array) -> TrainState:
        variables = model.init(key, jnp.zeros((1, *input_shape), jnp.float32), train=False)
        return TrainState.create(
            apply_fn=model.apply,
            params=reinitialize(variables["params"], jax.random.fold_in(key, 1), init, init_std),
            batch_stats=variables.get("batch_stats", {}),
            tx=tx,
        )

    # One compilation: run eagerly, every operation of init and of the optimizer's init compiles on its
    # own (5 s for LeNet-5 on 2 cores).
    return jax.jit(build)(flat(key))
