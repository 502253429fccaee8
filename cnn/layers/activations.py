"""Activation functions, elementwise, and their names for configs.

    sigmoid(x)     = 1 / (1 + e^{−x})                 squashes to (0, 1); saturates, not zero-centred
    tanh(x)        = (e^x − e^{−x}) / (e^x + e^{−x})  squashes to (−1, 1); saturates, zero-centred
    relu(x)        = max(0, x)                        does not saturate for x > 0; AlexNet
    scaled_tanh(x) = A · tanh(S · x), A = 1.7159, S = 2/3   LeNet-5's squashing function

Sigmoid and tanh are jax's own; `activation(name)` looks any of them up by its name in ACTIVATIONS.

ReLU's backward pass can be swapped while a model is traced, for the visualisations that need it
(`with relu_backward(rule):`), without touching the models. With g the gradient arriving from above:

    gradient   g · [x > 0]            the true derivative (saliency, Simonyan et al. 2014)
    deconvnet  g · [g > 0]            Zeiler & Fergus 2014: the deconvnet rectifies the signal going down
    guided     g · [x > 0] · [g > 0]  Springenberg et al. 2015 (guided backpropagation): both gates
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp

from cnn.suggest import unknown

sigmoid = jax.nn.sigmoid
tanh = jnp.tanh
RELU_BACKWARD_RULES = ("gradient", "deconvnet", "guided")
_RELU_BACKWARD: contextvars.ContextVar[str] = contextvars.ContextVar("relu_backward", default="gradient")


@jax.custom_vjp
def _deconvnet_relu(x: jax.Array) -> jax.Array:
    return jax.nn.relu(x)


_deconvnet_relu.defvjp(lambda x: (jax.nn.relu(x), None), lambda _, g: (jax.nn.relu(g),))


@jax.custom_vjp
def _guided_relu(x: jax.Array) -> jax.Array:
    return jax.nn.relu(x)


_guided_relu.defvjp(lambda x: (jax.nn.relu(x), x > 0), lambda passed, g: (jnp.where(passed & (g > 0), g, 0.0),))


def relu(x: jax.Array) -> jax.Array:
    """max(0, x), whose backward pass follows the rule `relu_backward` set while it was traced."""
    rule = _RELU_BACKWARD.get()
    if rule == "gradient":
        return jax.nn.relu(x)
    return _deconvnet_relu(x) if rule == "deconvnet" else _guided_relu(x)


@contextlib.contextmanager
def relu_backward(rule: str) -> Iterator[None]:
    """ReLUs traced inside the block pass gradients back by `rule`, one of RELU_BACKWARD_RULES. Only tracing
    reads it: jit a fresh function inside the block, or JAX reuses a trace made under another rule."""
    if rule not in RELU_BACKWARD_RULES:
        raise ValueError(unknown("ReLU backward rule", rule, RELU_BACKWARD_RULES))
    token = _RELU_BACKWARD.set(rule)
    try:
        yield
    finally:
        _RELU_BACKWARD.reset(token)

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
