"""Is an explanation faithful? The deletion test (Petsiuk, Das & Saenko 2018, "RISE"): delete the pixels an
attribution ranks highest, a growing fraction at a time, and follow the class probability. A map that points
at the evidence the network uses makes it fall faster than deleting the same number of random pixels does;
the area under the curve summarises it (lower is more faithful)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def deletion_curve(model: nn.Module, variables: Any, images: jax.Array, classes: Sequence[int] | np.ndarray,
                   ranking: jax.Array | np.ndarray, fractions: Sequence[float], fill: float | jax.Array = 0.0
                   ) -> np.ndarray:
    """The mean probability of each image's class after its top `fraction` of pixels by `ranking` (N, H, W;
    higher first, ties broken by position) are set to `fill` in every channel, one value per fraction."""
    images = jnp.asarray(images)
    ranking = jnp.asarray(ranking)
    if ranking.shape != images.shape[:3]:
        raise ValueError(f"the ranking must score every pixel: images {images.shape}, ranking {ranking.shape}")
    pixels = ranking.shape[1] * ranking.shape[2]
    # rank[i] = the pixel's place in its image's descending order: deleting k pixels hides rank < k
    order = jnp.argsort(-ranking.reshape(len(ranking), -1), axis=1, stable=True)
    rank = jnp.argsort(order, axis=1).reshape(ranking.shape)
    index = jnp.asarray(classes)[:, None]

    @jax.jit
    def probability(count: jax.Array) -> jax.Array:
        hidden = jnp.where((rank < count)[..., None], fill, images)
        return jnp.take_along_axis(jax.nn.softmax(model.apply(variables, hidden, train=False)[0]), index, 1).mean()

    return np.array([float(probability(jnp.asarray(round(f * pixels)))) for f in fractions])


def area_under(fractions: Sequence[float], curve: np.ndarray) -> float:
    """The trapezoidal area under a deletion curve over `fractions`."""
    return float(np.trapezoid(curve, fractions))
