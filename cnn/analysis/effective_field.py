"""The effective receptive field (Luo et al. 2016): how much each input pixel actually moves a unit.

A unit's theoretical field is a square, but the gradient of the unit with respect to the input is
concentrated near its centre and fades roughly like a Gaussian: in practice a unit listens to a small
part of its field. Following Luo et al., the gradient of the centre unit of a layer (summed over that
layer's channels) is taken with respect to the input, its magnitude averaged over inputs (random ones
for an untrained model, real images for a trained one), and summarised by the radii around the unit's
theoretical centre that hold 50% and 95% of the gradient mass.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnn.analysis.receptive_field import Field, FieldMap, trace_fields


def layer_output(model: nn.Module, variables: Any, x: jax.Array, layer: str) -> jax.Array:
    """The output of module `layer` ("block3/conv2", as in the summary) or tap "tap:NAME" on batch `x`."""
    captured: dict[str, jax.Array] = {}

    def grab(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name == "__call__" and "/".join(context.module.path) == layer and "out" not in captured:
            captured["out"] = out[0] if isinstance(out, tuple) else out
        return out

    with nn.intercept_methods(grab):
        out = model.apply(variables, x, train=False)
    if layer.startswith("tap:"):
        taps = out[1] if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict) else {}
        if layer[4:] not in taps:
            raise ValueError(f"{type(model).__name__} has no tap {layer[4:]!r}; its taps are {sorted(taps)}")
        return taps[layer[4:]]
    if "out" not in captured:
        raise ValueError(f"{type(model).__name__} has no module {layer!r}; `launch.py summary --depth N` lists them")
    return captured["out"]


@dataclasses.dataclass(frozen=True)
class EffectiveField:
    layer: str
    unit: tuple[int, ...]  # the centre unit of the layer's output grid
    gradient: np.ndarray  # (H, W, ...): mean |∂ Σ_c y[unit, c] / ∂x| over inputs, summed over input channels
    center: tuple[float, ...]  # the unit's theoretical centre in input coordinates
    radius50: float  # Chebyshev radius around `center` holding 50% of the gradient mass, in pixels
    radius95: float
    theoretical: Field


def mass_radius(gradient: np.ndarray, center: tuple[float, ...], fraction: float) -> float:
    """The smallest Chebyshev radius around `center` holding `fraction` of the gradient mass."""
    grids = np.meshgrid(*(np.arange(n) - c for n, c in zip(gradient.shape, center)), indexing="ij")
    distance = np.max(np.abs(np.stack(grids)), axis=0).ravel()
    order = np.argsort(distance, kind="stable")
    mass = np.cumsum(gradient.ravel()[order])
    if mass[-1] <= 0:
        raise ValueError("the unit's gradient is zero everywhere: it does not depend on the input")
    return float(distance[order][np.searchsorted(mass, fraction * mass[-1])])


def effective_field(model: nn.Module, variables: Any, inputs: jax.Array, layer: str, *,
                    batch_size: int = 8, fields: FieldMap | None = None) -> EffectiveField:
    """Luo et al.'s effective receptive field of the centre unit of `layer` over `inputs` (N, H, W, C).

    `fields`: the model's traced fields at this input shape, if the caller has them already.
    """
    field_map = fields or trace_fields(model, inputs.shape[1:])
    theoretical = field_map.field(layer)
    if not theoretical.spatial:
        try:
            hint = f"the final one is {field_map.final()[0]!r}"
        except ValueError:
            hint = "this model has none"
        raise ValueError(f"layer {layer!r} has no spatial output; give a convolutional layer or tap ({hint})")
    out_shape = field_map.shapes[layer]
    unit = tuple((n - 1) // 2 for n in out_shape[:-1])
    select = (slice(None), *unit)

    @jax.jit
    def magnitude(x: jax.Array) -> jax.Array:
        grad = jax.grad(lambda x: layer_output(model, variables, x, layer)[select].sum())(x)
        return jnp.abs(grad).sum(axis=(0, x.ndim - 1))

    total = 0.0
    for start in range(0, len(inputs), batch_size):
        total = total + magnitude(jnp.asarray(inputs[start:start + batch_size], jnp.float32))
    gradient = np.asarray(total) / len(inputs)
    center = theoretical.center(unit)
    return EffectiveField(layer, unit, gradient, center, mass_radius(gradient, center, 0.5),
                          mass_radius(gradient, center, 0.95), theoretical)
