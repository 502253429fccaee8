"""Mixup (Zhang et al. 2018) of an NHWC batch and its target distributions, on device.

`cnn.data.augment.augment` applies it last, from `config.augment.mixup`; the train step then
minimises the cross-entropy against the mixed targets (`cnn.train.steps`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def mixup(key: jax.Array, images: jax.Array, targets: jax.Array, alpha: float) -> tuple[jax.Array, jax.Array]:
    """(λ x + (1 − λ) x[π], λ y + (1 − λ) y[π]) for a batch x with targets y [N, classes].

    One λ ~ Beta(alpha, alpha) for the whole batch and one random permutation π of it, as in the
    authors' code (facebookresearch/mixup-cifar10) that produced the paper's results; pairing each
    example with another of the same batch needs no second batch. Drawn as `lam_key, perm_key =
    jax.random.split(key)`, `jax.random.beta(lam_key, alpha, alpha)`, `jax.random.permutation(perm_key, N)`.
    """
    if images.ndim != 4 or targets.ndim != 2 or targets.shape[0] != images.shape[0]:
        raise ValueError(f"mixup needs an NHWC batch and its [N, classes] targets, got shapes {images.shape} "
                         f"and {targets.shape}")
    if not alpha > 0:
        raise ValueError(f"mixup alpha must be > 0, got {alpha}")
    images, targets = jnp.asarray(images), jnp.asarray(targets)
    lam_key, perm_key = jax.random.split(key)
    lam = jax.random.beta(lam_key, alpha, alpha)
    perm = jax.random.permutation(perm_key, images.shape[0])
    mixed_images = lam.astype(images.dtype) * images + (1 - lam).astype(images.dtype) * images[perm]
    mixed_targets = lam * targets + (1 - lam) * targets[perm]
    return mixed_images, mixed_targets.astype(jnp.float32)
