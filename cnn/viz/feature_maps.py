"""Feature maps: what each layer's channels respond to in one image, from edges near the input to object
parts deep down (the notes' "low to high abstraction")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from cnn.viz.plots import plot_image_grid
from cnn.viz.probe import activations, spatial_taps


def feature_maps(model: nn.Module, variables: Any, image: jax.Array,
                 layers: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The (H, W, C) activations of `layers` (taps or module paths; default: every feature-map tap, in the
    order the model computes them) for one image (H, W, C)."""
    layers = list(layers or spatial_taps(model, variables, image.shape))
    found = activations(model, variables, image[None], layers)
    for name, value in found.items():
        if value.ndim != 4:
            raise ValueError(f"{name!r} is not a feature map (N, H, W, C) but has shape {value.shape}")
    return {name: np.asarray(found[name][0]) for name in layers}


def plot_feature_maps(maps: np.ndarray, path: str, title: str = "", limit: int = 64) -> str:
    """The first `limit` channels of one layer's (H, W, C) maps as a grid, each channel stretched to its range."""
    channels = min(maps.shape[-1], limit)
    shown = f"{channels} of {maps.shape[-1]} channels" if channels < maps.shape[-1] else f"{channels} channels"
    return plot_image_grid([maps[..., c] for c in range(channels)], path, titles=[str(c) for c in range(channels)],
                           title=f"{title} ({maps.shape[0]}×{maps.shape[1]}, {shown})", cmap="viridis",
                           tile_inches=0.9)
