"""Where in the image a class is found: class activation maps (CAM) and Grad-CAM.

CAM (Zhou et al. 2016) needs a network that ends in global average pooling and one linear layer: with A the
last feature maps (h, w, C) and w_c^k the head's weight from channel c to class k,
    CAM_k(i, j) = Σ_c w_c^k A_ijc,
the class score spread back over the positions it was pooled from (y_k = mean_ij CAM_k(i, j) + b_k).

Grad-CAM (Selvaraju et al. 2017) works on any layer of any network: the channel weights are the spatially
averaged gradients of the class logit, and only positive evidence is kept,
    α_c = (1/hw) Σ_ij ∂y_k/∂A_ijc,    Grad-CAM_k = ReLU(Σ_c α_c A_c).
On a GAP + linear network ∂y_k/∂A_ijc = w_c^k / (hw), so Grad-CAM = ReLU(CAM) / (hw): the paper's
generalisation result, which the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnn.viz.probe import activations, last_spatial_tap, layer_gradient, spatial_taps


def grad_cam(model: nn.Module, variables: Any, images: jax.Array, classes: Sequence[int] | np.ndarray,
             layer: str | None = None) -> jax.Array:
    """Grad-CAM of each image's class in `classes` at `layer` (a tap or module path; default: the deepest
    feature-map tap), shape (N, h, w) at the layer's resolution."""
    layer = layer or last_spatial_tap(model, variables, images.shape[1:])
    value, gradient = layer_gradient(model, variables, images, layer, classes)
    if value.ndim != 4:
        raise ValueError(f"Grad-CAM needs a feature map (N, H, W, C) at {layer!r}, got shape {value.shape}")
    weights = gradient.mean(axis=(1, 2))
    return jax.nn.relu(jnp.einsum("nhwc,nc->nhw", value, weights))


def _linear_head(model: nn.Module, variables: Any, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The input and kernel (C, K) of the Dense layer that computes the logits, found by running the model."""
    calls = []

    def record(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if isinstance(context.module, nn.Dense) and context.method_name == "__call__":
            calls.append((args[0], out, context.module.variables["params"]["kernel"]))
        return out

    with nn.intercept_methods(record):
        logits = model.apply(variables, images, train=False)[0]
    for features, out, kernel in reversed(calls):
        if out.shape == logits.shape and bool(jnp.allclose(out, logits, atol=1e-5, rtol=1e-5)):
            return features, kernel
    raise ValueError(f"{type(model).__name__}'s logits are not the output of a Dense layer; CAM needs a global "
                     "average pooling + linear head (use gradcam, which works on any model)")


def cam(model: nn.Module, variables: Any, images: jax.Array, classes: Sequence[int] | np.ndarray,
        layer: str | None = None) -> jax.Array:
    """Zhou et al.'s class activation map of each image's class at `layer` (default: the deepest feature-map
    tap, even 1×1), shape (N, h, w). The layer's global average must be what the linear head reads, else
    ValueError."""
    layer = layer or (spatial_taps(model, variables, images.shape[1:], smallest=1) or [""])[-1]
    maps = activations(model, variables, images, [layer])[layer]
    features, kernel = _linear_head(model, variables, images)
    pooled = maps.mean(axis=(1, 2)) if maps.ndim == 4 else None
    if pooled is None or pooled.shape != features.shape or not bool(jnp.allclose(pooled, features, atol=1e-4)):
        raise ValueError(f"{type(model).__name__}'s head does not read the global average of {layer!r}, so CAM is "
                         "undefined there; CAM needs GAP + linear (ResNet, GoogLeNet, NiN...): use gradcam instead")
    return jnp.einsum("nhwc,nc->nhw", maps, kernel.T[jnp.asarray(classes)])
