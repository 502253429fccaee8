"""Which input pixels a class score depends on: saliency, deconvnet and guided backpropagation.

All three send the class score y_c (the logit, before the softmax) back to the input through the network's
own transposed convolutions and max-pooling switches, and differ only in how a ReLU passes the signal g
coming down (`cnn.layers.activations.relu_backward`):

    saliency          g · [x > 0]            ∂y_c/∂x, the true gradient (Simonyan, Vedaldi & Zisserman 2014)
    deconvnet         g · [g > 0]            Zeiler & Fergus 2014: the ReLU is applied to the signal going down
    guided backprop   g · [x > 0] · [g > 0]  Springenberg et al. 2015: both, the sharpest of the three

Simonyan et al. draw the saliency map M_ij = max_c |∂y/∂x_ijc| over colour channels; the other two are
drawn as images in their own right. Instead of a class score, any unit can be sent back: Zeiler & Fergus
project the strongest activation of one feature map (`layer`, `channel`), all others in the layer set to 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnn.layers.activations import relu_backward
from cnn.viz.probe import activations


def input_gradient(model: nn.Module, variables: Any, images: jax.Array, classes: Sequence[int] | np.ndarray | None,
                   rule: str = "gradient", layer: str | None = None, channel: int | None = None) -> jax.Array:
    """The class score of each image (its logit for its class in `classes`), or the strongest unit of
    `channel` of `layer` (a tap or module path), sent back to the input with ReLUs passing gradients by
    `rule` (gradient, deconvnet or guided); shape of `images`."""
    if (layer is None) == (classes is None) or (layer is None) != (channel is None):
        raise ValueError("send back either a class score (classes) or a unit (layer and channel), not both")
    if layer is not None:
        return _unit_gradient(model, variables, images, layer, channel, rule)
    index = jnp.asarray(classes)
    if index.shape != (images.shape[0],):
        raise ValueError(f"need one class per image: {images.shape[0]} images, classes of shape {index.shape}")

    def score(x: jax.Array) -> jax.Array:
        logits = model.apply(variables, x, train=False)[0]
        return jnp.take_along_axis(logits, index[:, None], axis=1).sum()

    with relu_backward(rule):  # a fresh function, so it is traced here under the rule, never from a cache
        return jax.jit(jax.grad(score))(images)


def _unit_gradient(model: nn.Module, variables: Any, images: jax.Array, layer: str, channel: int,
                   rule: str) -> jax.Array:
    maps = jax.eval_shape(lambda x: activations(model, variables, x, [layer])[layer], images)
    if len(maps.shape) < 2 or not 0 <= channel < maps.shape[-1]:
        raise ValueError(f"channel {channel} is out of range: {layer!r} has output shape {maps.shape}")

    def score(x: jax.Array) -> jax.Array:
        units = activations(model, variables, x, [layer])[layer][..., channel]
        return units.reshape(len(x), -1).max(axis=1).sum()  # the gradient of a max flows to its argmax alone

    with relu_backward(rule):
        return jax.jit(jax.grad(score))(images)


def saliency(model: nn.Module, variables: Any, images: jax.Array, classes: Sequence[int] | np.ndarray) -> jax.Array:
    """Simonyan et al.'s image-specific class saliency: max over channels of |∂y_c/∂x|, shape (N, H, W)."""
    return jnp.abs(input_gradient(model, variables, images, classes)).max(axis=-1)


def deconvnet(model: nn.Module, variables: Any, images: jax.Array, classes: Sequence[int] | np.ndarray) -> jax.Array:
    """Zeiler & Fergus's deconvnet reconstruction of the class score, shape of `images`."""
    return input_gradient(model, variables, images, classes, rule="deconvnet")


def guided_backprop(model: nn.Module, variables: Any, images: jax.Array,
                    classes: Sequence[int] | np.ndarray) -> jax.Array:
    """Springenberg et al.'s guided backpropagation of the class score, shape of `images`."""
    return input_gradient(model, variables, images, classes, rule="guided")
