"""Model registry: a plain dict from lower-case name to a Module factory and the input it is built for."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn

from cnn.suggest import unknown


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    factory: Callable[..., nn.Module]
    input_shape: tuple[int, int, int]  # (height, width, channels) of the paper's (or dataset's) input
    num_classes: int  # classes of the dataset the paper used
    reference: str  # the paper (and the implementation the model is proven against), for the model table


_MODELS: dict[str, ModelSpec] = {}


def register(name: str, factory: Callable[..., nn.Module], *, input_shape: tuple[int, int, int],
             num_classes: int, reference: str) -> None:
    """Adds `name`; `factory(num_classes=..., **overrides)` must return a Module whose __call__(x, train)
    returns (logits, taps)."""
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = ModelSpec(factory, input_shape, num_classes, reference)


def names() -> list[str]:
    """All registered model names, sorted."""
    return sorted(_MODELS)


def spec(name: str) -> ModelSpec:
    """The factory, default input shape and class count registered as `name`."""
    if name not in _MODELS:
        raise ValueError(unknown("model", name, _MODELS))
    return _MODELS[name]


def create(name: str, *, num_classes: int, **overrides) -> nn.Module:
    """Returns the linen Module registered as `name`, with `num_classes` outputs and field overrides.

    An `activation` override may be a name of `cnn.layers.ACTIVATIONS` ("tanh"), as configs give it.
    """
    if isinstance(overrides.get("activation"), str):
        from cnn.layers.activations import activation  # here: cnn.layers is not needed to list the models

        overrides["activation"] = activation(overrides["activation"])
    return spec(name).factory(num_classes=num_classes, **overrides)


def initialized(name: str, input_shape: tuple[int, int, int] | None = None, seed: int = 0) -> tuple[nn.Module, Any]:
    """The model registered as `name` (its paper's class count) and its initial variables for one input of
    `input_shape` (default: the paper's), built by one compiled program: eager init compiles every operation."""
    import jax
    import jax.numpy as jnp

    from cnn import keys

    model_spec = spec(name)
    model = create(name, num_classes=model_spec.num_classes)
    shape = jax.ShapeDtypeStruct((1, *(input_shape or model_spec.input_shape)), jnp.float32)
    return model, jax.jit(lambda x: model.init(keys.key(seed), x, train=False))(shape)
