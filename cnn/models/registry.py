"""Model registry: a plain dict from lower-case name to a Module factory."""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn

from cnn.suggest import unknown

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str, factory: Callable[..., nn.Module]) -> None:
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = factory


def names() -> list[str]:
    """All registered model names, sorted."""
    return sorted(_MODELS)


def create(name: str, *, num_classes: int, **overrides) -> nn.Module:
    """Returns the linen Module registered as `name`, with `num_classes` outputs and field overrides."""
    if name not in _MODELS:
        raise ValueError(unknown("model", name, _MODELS))
    return _MODELS[name](num_classes=num_classes, **overrides)
