"""Named layers of any model: their activations on a batch, and gradients of the logits with respect to them.

A layer is named as a tap the model returns ("c3", "features", "layer4") or, failing that, as a module path
as `launch.py summary --depth N` lists it ("layer4/block2/conv3"). The gradient with respect to a layer is the
partial derivative of the logits with the layer's activation held as an independent input: the model is traced
once to a jaxpr, and the equation that computes the layer has its output cut and replaced by a new input. So
it works for taps that are no module's output (a ReLU after a convolution, a pooling function) and for layers
other paths skip around (a residual block), without touching the model's code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jcore


def _named_outputs(model: nn.Module, variables: Any, layers: Sequence[str]) -> Callable:
    """x -> (logits, {layer: activation}), each layer a tap or, if no tap has its name, a module's output."""

    def forward(x: jax.Array):
        modules: dict[str, jax.Array] = {}

        def grab(next_fun, args, kwargs, context):
            out = next_fun(*args, **kwargs)
            path = "/".join(context.module.path)
            if context.method_name == "__call__" and path in wanted and path not in modules:
                modules[path] = out[0] if isinstance(out, tuple) else out
            return out

        wanted = set(layers)
        with nn.intercept_methods(grab):
            logits, taps = model.apply(variables, x, train=False)
        found = {}
        for name in layers:
            if name in taps:
                found[name] = taps[name]
            elif name in modules:
                found[name] = modules[name]
            else:
                raise ValueError(f"{type(model).__name__} has no tap or module {name!r}; its taps are {sorted(taps)} "
                                 "(`launch.py summary --model NAME --depth N` lists the modules)")
        return logits, found

    return forward


def activations(model: nn.Module, variables: Any, x: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
    """The activations of `layers` (tap names or module paths) on batch `x`, in inference mode."""
    return _named_outputs(model, variables, layers)(x)[1]


def tap_shapes(model: nn.Module, variables: Any, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """The shape of every tap for one input of `input_shape`, in the order the model computes them (JAX
    returns dicts with sorted keys, so the order is read from the dict the model built)."""
    order: list[str] = []

    def tap_dict(x: jax.Array) -> dict[str, jax.Array]:
        found = model.apply(variables, x, train=False)[1]
        order.extend(found)
        return found

    shapes = jax.eval_shape(tap_dict, jax.ShapeDtypeStruct((1, *input_shape), jnp.float32))
    return {name: shapes[name].shape for name in order}


def spatial_taps(model: nn.Module, variables: Any, input_shape: tuple[int, ...], smallest: int = 2) -> list[str]:
    """The taps that are feature maps (N, H, W, C) of at least `smallest` positions, in the order the model
    computes them."""
    return [name for name, s in tap_shapes(model, variables, input_shape).items()
            if len(s) == 4 and s[1] * s[2] >= smallest]


def last_spatial_tap(model: nn.Module, variables: Any, input_shape: tuple[int, ...]) -> str:
    """The deepest feature-map tap: where Grad-CAM looks by default, as the Grad-CAM paper does."""
    names = spatial_taps(model, variables, input_shape)
    if not names:
        raise ValueError(f"{type(model).__name__} returns no feature-map tap larger than 1×1 for input "
                         f"{input_shape}; name a module with --layer")
    return names[-1]


def cut_at(model: nn.Module, variables: Any, x: jax.Array, layer: str) -> tuple[jax.Array, Callable]:
    """The activation A of `layer` on `x`, and logits(A): the rest of the network from that layer on, a
    function of A alone (every other path from the input is held at its value on `x`)."""
    forward = _named_outputs(model, variables, [layer])
    closed = jax.make_jaxpr(forward)(x)
    out_tree = jax.tree.structure(jax.eval_shape(forward, x))
    positions = jax.tree.unflatten(out_tree, list(range(out_tree.num_leaves)))
    target = closed.jaxpr.outvars[positions[1][layer]]
    if not isinstance(target, jcore.Var) or target in closed.jaxpr.invars:
        raise ValueError(f"layer {layer!r} is the input itself or a constant; name a layer the model computes")
    eqns = [eqn.replace(outvars=[jcore.DropVar(v.aval) if v is target else v for v in eqn.outvars])
            for eqn in closed.jaxpr.eqns]
    cut = closed.jaxpr.replace(invars=[*closed.jaxpr.invars, target], eqns=eqns)
    rest = jcore.jaxpr_as_fun(jcore.ClosedJaxpr(cut, closed.consts))
    logits_position = positions[0]
    value = jax.jit(forward)(x)[1][layer]
    return value, lambda a: rest(x, a)[logits_position]


def layer_gradient(model: nn.Module, variables: Any, x: jax.Array, layer: str,
                   classes: np.ndarray | Sequence[int]) -> tuple[jax.Array, jax.Array]:
    """The activation A of `layer` on batch `x` and ∂ y_c / ∂ A, y_c the logit (pre-softmax score) of each
    image's class in `classes`."""
    value, rest = cut_at(model, variables, x, layer)
    index = jnp.asarray(classes)

    def score(a: jax.Array) -> jax.Array:
        return jnp.take_along_axis(rest(a), index[:, None], axis=1).sum()

    return value, jax.jit(jax.grad(score))(value)
