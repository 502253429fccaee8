"""Model registry: a plain dict from lower-case name to a Module factory."""

from __future__ import annotations

import difflib
from collections.abc import Callable

import flax.linen as nn

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
        close = difflib.get_close_matches(name.lower(), _MODELS, n=3, cutoff=0.5)
        hint = f"Did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise ValueError(f"unknown model {name!r}. {hint}Known models: {', '.join(names())}")
    return _MODELS[name](num_classes=num_classes, **overrides)
