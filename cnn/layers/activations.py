"""Activation functions, elementwise, and their names for configs.

    sigmoid(x)     = 1 / (1 + e^{−x})                 squashes to (0, 1); saturates, not zero-centred
    tanh(x)        = (e^x − e^{−x}) / (e^x + e^{−x})  squashes to (−1, 1); saturates, zero-centred
    relu(x)        = max(0, x)                        does not saturate for x > 0; AlexNet
    scaled_tanh(x) = A · tanh(S · x), A = 1.7159, S = 2/3   LeNet-5's squashing function

The first three are jax's own; `activation(name)` looks any of them up by its name in ACTIVATIONS.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from cnn.suggest import unknown

sigmoid = jax.nn.sigmoid
tanh = jnp.tanh
relu = jax.nn.relu

SCALED_TANH_A = 1.7159
SCALED_TANH_S = 2.0 / 3.0


def scaled_tanh(x: jax.Array) -> jax.Array:
    """LeNet-5's f(a) = A · tanh(S · a), A = 1.7159, S = 2/3 (LeCun et al. 1998, appendix A).

    The constants make f(±1) = ±1, so targets ±1 sit where the curvature is largest instead of in
    the saturated tails, and the gain f'(0) = A·S ≈ 1.14 is close to 1 so signals keep their scale.
    """
    return SCALED_TANH_A * jnp.tanh(SCALED_TANH_S * x)


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "scaled_tanh": scaled_tanh,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The activation function called `name` in ACTIVATIONS (how configs name them)."""
    if name not in ACTIVATIONS:
        raise ValueError(unknown("activation", name, ACTIVATIONS))
    return ACTIVATIONS[name]
