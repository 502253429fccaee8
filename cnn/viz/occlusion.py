"""Occlusion sensitivity (Zeiler & Fergus 2014, section 4.2): slide a grey square over the image and record
how much the probability of the class drops with each part of the image hidden.

A drop means the hidden part was evidence for the class; the map peaks on the object when the network looks
at the object and not at its surroundings. Inputs here are normalised by the training set's mean and
standard deviation, so "grey" (the dataset's mean) is 0.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Occlusion:
    probability: float  # of the class, on the whole image
    drops: np.ndarray  # (rows, cols): probability minus the probability with the patch at each position
    pixel_map: np.ndarray  # (H, W): each pixel's mean drop over the patches that covered it
    patch: int
    stride: int


def occlusion(model: nn.Module, variables: Any, image: jax.Array, class_index: int, patch: int, stride: int,
              fill: float = 0.0, batch_size: int = 64) -> Occlusion:
    """The drop of the class probability of `image` (H, W, C) with a `patch`×`patch` square of value `fill`
    placed at every `stride`-th position (the last row and column of positions reach the border)."""
    height, width = image.shape[:2]
    if not 0 < patch <= min(height, width) or stride < 1:
        raise ValueError(f"occlusion needs 0 < patch ≤ {min(height, width)} (the image's side) and stride ≥ 1, "
                         f"got patch {patch}, stride {stride}")
    rows, cols = (sorted({*range(0, n - patch + 1, stride), n - patch}) for n in (height, width))
    corners = np.array([(r, c) for r in rows for c in cols])

    @jax.jit
    def probabilities(corner_batch: jax.Array) -> jax.Array:
        def occlude(corner: jax.Array) -> jax.Array:
            hidden = jnp.zeros(image.shape[:2], bool)
            hidden = jax.lax.dynamic_update_slice(hidden, jnp.ones((patch, patch), bool), (corner[0], corner[1]))
            return jnp.where(hidden[..., None], fill, image)

        logits = model.apply(variables, jax.vmap(occlude)(corner_batch), train=False)[0]
        return jax.nn.softmax(logits)[:, class_index]

    base = float(jax.nn.softmax(model.apply(variables, image[None], train=False)[0])[0, class_index])
    padded = np.concatenate([corners, np.repeat(corners[-1:], -len(corners) % batch_size, axis=0)])
    occluded = np.concatenate([np.asarray(probabilities(padded[i:i + batch_size]))
                               for i in range(0, len(padded), batch_size)])[:len(corners)]
    drops = base - occluded
    total, covered = np.zeros((height, width)), np.zeros((height, width))
    for (r, c), drop in zip(corners, drops):
        total[r:r + patch, c:c + patch] += drop
        covered[r:r + patch, c:c + patch] += 1
    return Occlusion(base, drops.reshape(len(rows), len(cols)), total / covered, patch, stride)
