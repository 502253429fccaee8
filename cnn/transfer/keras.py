"""Weights from Keras Applications models into the zoo's variables: `import_keras(keras_model, name)`.

Pairing is structural, not by name: the model is traced once at inference to record the order in
which its parameterised layers run (Conv, Dense, BatchNorm), and each is paired with the earliest
not-yet-paired Keras layer of the same kind whose weights have the same shapes, in the order of
`keras_model.layers` (a topological order of Keras's graph). Keras lists a residual block's
shortcut projection before the branch's last convolution, so a model whose same-shaped parallel
layers run in another order gets them swapped; the logits then differ, which is what the
equivalence tests check.

Layouts: Keras's Conv2D kernel (kh, kw, C_in/g, C_out) and Dense kernel (in, out) are ours;
a DepthwiseConv2D kernel (kh, kw, C, m) is our grouped Conv kernel (kh, kw, 1, C·m) with
groups = C; a SeparableConv2D is a depthwise then a pointwise Conv; a 1×1 Conv2D classifier
on a 1×1 map (Keras's MobileNets) pairs with a Dense. BatchNormalization's gamma, beta,
moving_mean, moving_variance are our scale, bias, mean, var; its epsilon must equal ours.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnn.layers.conv import Conv
from cnn.layers.norm import BatchNorm
from cnn.models.registry import create

# Keras layers with weights that are not part of the network proper (input standardisation).
_PREPROCESSING = ("Normalization", "Rescaling")


@dataclasses.dataclass
class _Layer:
    """One parameterised layer, ours or Keras's: its kind and its arrays in our layout."""

    kind: str  # "conv", "dense" or "bn"
    name: str
    arrays: dict[str, np.ndarray]  # our variable names -> values (Keras) or shapes (ours, as zeros)
    epsilon: float | None = None


def _ours(model: nn.Module, variables: dict, x: jax.ShapeDtypeStruct) -> list[tuple[tuple[str, ...], _Layer]]:
    """Our parameterised layers in the order an inference pass runs them, with their variable paths."""
    order: list[tuple[tuple[str, ...], nn.Module]] = []

    def record(next_fun, args, kwargs, context):
        module = context.module
        if context.method_name == "__call__" and isinstance(module, (Conv, nn.Dense, BatchNorm)):
            order.append((module.path, module))
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        jax.eval_shape(lambda v, inputs: model.apply(v, inputs, train=False), variables, x)

    layers = []
    for path, module in order:
        params = _subtree(variables["params"], path)
        if isinstance(module, BatchNorm):
            stats = _subtree(variables["batch_stats"], path)
            arrays = {**{k: params[k] for k in ("scale", "bias") if k in params}, "mean": stats["mean"],
                      "var": stats["var"]}
            layers.append((path, _Layer("bn", "/".join(path), arrays, module.epsilon)))
        else:
            kind = "conv" if isinstance(module, Conv) else "dense"
            layers.append((path, _Layer(kind, "/".join(path), dict(params))))
    return layers


def _subtree(tree: dict, path: tuple[str, ...]) -> dict:
    for key in path:
        tree = tree[key]
    return tree


def _keras_layers(keras_model) -> list[_Layer]:
    """Keras's parameterised layers in `keras_model.layers` order, converted to our layouts."""
    out = []
    for layer in keras_model.layers:
        kind = type(layer).__name__
        weights = {w.path.split("/")[-1]: np.asarray(w.value) for w in layer.weights}
        if not weights or kind in _PREPROCESSING:
            continue
        bias = {"bias": weights["bias"]} if "bias" in weights else {}
        if kind == "BatchNormalization":
            if list(np.atleast_1d(layer.axis)) not in ([-1], [3]):
                raise ValueError(f"Keras layer {layer.name}: only channels-last batch norm imports, got axis {layer.axis}")
            arrays = {"mean": weights["moving_mean"], "var": weights["moving_variance"]}
            if "gamma" in weights:
                arrays["scale"] = weights["gamma"]
            if "beta" in weights:
                arrays["bias"] = weights["beta"]
            out.append(_Layer("bn", layer.name, arrays, float(layer.epsilon)))
        elif kind == "Conv2D":
            out.append(_Layer("conv", layer.name, {"kernel": weights["kernel"], **bias}))
        elif kind == "DepthwiseConv2D":
            out.append(_Layer("conv", layer.name, {"kernel": _depthwise(weights["kernel"]), **bias}))
        elif kind == "SeparableConv2D":
            out.append(_Layer("conv", f"{layer.name} (depthwise)", {"kernel": _depthwise(weights["depthwise_kernel"])}))
            out.append(_Layer("conv", f"{layer.name} (pointwise)", {"kernel": weights["pointwise_kernel"], **bias}))
        elif kind == "Dense":
            out.append(_Layer("dense", layer.name, {"kernel": weights["kernel"], **bias}))
        else:
            raise ValueError(f"Keras layer {layer.name} ({kind}) has weights {sorted(weights)} that cnn cannot import")
    return out


def _depthwise(kernel: np.ndarray) -> np.ndarray:
    kh, kw, channels, multiplier = kernel.shape
    return kernel.reshape(kh, kw, 1, channels * multiplier)


def _as_dense(layer: _Layer) -> _Layer | None:
    """A Keras 1×1 Conv2D viewed as the Dense it equals on a 1×1 map."""
    kernel = layer.arrays["kernel"]
    if layer.kind != "conv" or kernel.shape[:2] != (1, 1):
        return None
    return _Layer("dense", layer.name, {**layer.arrays, "kernel": kernel.reshape(kernel.shape[2:])})


def _shapes(arrays: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in arrays.items()}


def _match(ours: _Layer, theirs: _Layer) -> _Layer | None:
    """`theirs` in our layout if it can fill `ours`, else None."""
    if ours.kind == "dense" and theirs.kind == "conv":
        theirs = _as_dense(theirs)
        if theirs is None:
            return None
    if theirs.kind != ours.kind or _shapes(theirs.arrays) != _shapes(ours.arrays):
        return None
    return theirs


def import_keras(keras_model, name: str, **overrides) -> dict:
    """Variables for `cnn.models.create(name, num_classes=<Keras's outputs>, **overrides)` holding
    `keras_model`'s weights; layers Keras does not have (auxiliary heads) keep their initial values.

    Raises ValueError naming the first layer that has no counterpart, with its shapes, or a batch
    norm epsilon that differs (pass the model's epsilon override to match Keras).
    """
    num_classes = int(keras_model.output_shape[-1])
    input_shape = tuple(keras_model.input_shape[1:])
    if any(d is None for d in input_shape):
        raise ValueError(f"Keras model {keras_model.name}: build it with a fixed input_shape, got {input_shape}")
    model = create(name, num_classes=num_classes, **overrides)
    x = jnp.zeros((1, *input_shape), jnp.float32)
    # Shapes only: drawing a 138M-parameter VGG's initial weights, only to overwrite them, takes
    # longer than the import. Real initial values are drawn only if some leaf stays unpaired.
    variables = jax.tree.map(lambda leaf: leaf, jax.eval_shape(model.init, jax.random.key(0), x))

    theirs = _keras_layers(keras_model)
    used = [False] * len(theirs)
    for path, layer in _ours(model, variables, jax.ShapeDtypeStruct(x.shape, x.dtype)):
        index, found = next(((i, m) for i, t in enumerate(theirs) if not used[i] and (m := _match(layer, t))),
                            (None, None))
        if found is None:
            raise ValueError(
                f"{name}: our {layer.kind} layer {layer.name} {_shapes(layer.arrays)} has no unpaired Keras "
                f"counterpart in {keras_model.name}; the architectures differ (check the overrides: {overrides})"
            )
        if layer.kind == "bn" and not np.isclose(found.epsilon, layer.epsilon, rtol=1e-6, atol=0):
            raise ValueError(
                f"{name}: batch norm {layer.name} has epsilon {layer.epsilon}, Keras's {found.name} has "
                f"{found.epsilon}; build ours with the model's epsilon override set to {found.epsilon}"
            )
        used[index] = True
        _assign(variables, path, found.arrays)
    left = [t.name for t, u in zip(theirs, used) if not u]
    if left:
        raise ValueError(f"{name}: Keras layers with no counterpart in ours: {', '.join(left[:10])}"
                         + (f" and {len(left) - 10} more" if len(left) > 10 else ""))
    if any(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree.leaves(variables)):
        initial = model.init(jax.random.key(0), x)
        variables = jax.tree.map(lambda v, i: np.asarray(i) if isinstance(v, jax.ShapeDtypeStruct) else v,
                                 variables, initial)
    return variables


def _assign(variables: dict, path: tuple[str, ...], arrays: dict[str, np.ndarray]) -> None:
    for key, value in arrays.items():
        collection = "batch_stats" if key in ("mean", "var") else "params"
        _subtree(variables[collection], path)[key] = np.asarray(value, np.float32)
