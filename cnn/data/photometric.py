"""Brightness, contrast and PCA lighting of NHWC batches on device; `cnn.data.augment.augment` applies them.

Each is defined on the [0, 1] pixel scale but meant for images already normalised per channel,
x_n = (x − mean[c]) / std[c] (the train step normalises before it augments). A shift s[c] of x is
the shift s[c] / std[c] of x_n, so the functions take the `std` the images were normalised by
(None: they are still on the [0, 1] scale). Contrast, a blend of each channel with its own mean,
needs no std: the blend commutes with any per-channel affine map.

None clips to the pixel range, as TF's adjust_brightness and adjust_contrast do not: on the
normalised scale the range is not at hand, and the shifts are small. All three add or scale about a
per-image, per-channel constant, so they commute with one another; `augment` applies brightness,
then contrast, then lighting.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

# The eigen-decomposition of ImageNet's RGB pixel covariance on the [0, 1] scale that fb.resnet.torch
# (datasets/imagenet.lua) published and most AlexNet-style lighting code copies: eigenvalues, and the
# matching unit eigenvectors as the columns of the matrix (rows are R, G, B).
IMAGENET_EIGENVALUES = np.array([0.2175, 0.0188, 0.0045], np.float32)
IMAGENET_EIGENVECTORS = np.array([[-0.5675, 0.7192, 0.4009],
                                  [-0.5808, -0.0045, -0.8140],
                                  [-0.5836, -0.6948, 0.4203]], np.float32)
LIGHTING_CHANNELS = (1, 3)  # the channel counts `lighting_eigen` has a decomposition for


def _per_channel(images: jax.Array, std: Sequence[float] | None, what: str) -> np.ndarray:
    """`std` as a float32 array of one value per channel (ones for None), checked."""
    if images.ndim != 4:
        raise ValueError(f"expected an NHWC batch of images, got shape {images.shape}")
    channels = images.shape[-1]
    std = np.ones(channels, np.float32) if std is None else np.asarray(std, np.float32)
    if std.shape != (channels,) or np.any(std <= 0):
        raise ValueError(f"{what} needs one positive std per channel of the {channels}-channel images, "
                         f"got {std.tolist()}")
    return std


def random_brightness(key: jax.Array, images: jax.Array, max_delta: float,
                      std: Sequence[float] | None = None) -> jax.Array:
    """Adds δ_i to every pixel of example i on the [0, 1] scale, δ_i uniform in [-max_delta, max_delta].

    TF's adjust_brightness (additive; torchvision's brightness is a factor instead) with one δ per
    example, `jax.random.uniform(key, (N,), minval=-max_delta, maxval=max_delta)`; on normalised
    images channel c moves by δ_i / std[c].
    """
    std = _per_channel(images, std, "brightness")
    if not 0 <= max_delta <= 1:
        raise ValueError(f"brightness max_delta must be in [0, 1], got {max_delta}")
    delta = jax.random.uniform(key, images.shape[:1], minval=-max_delta, maxval=max_delta)
    return images + (delta[:, None] / std)[:, None, None, :]


def random_contrast(key: jax.Array, images: jax.Array, max_change: float) -> jax.Array:
    """Scales example i about its per-channel means by f_i uniform in [1 − max_change, 1 + max_change].

    TF's adjust_contrast, (x − m_ic) f_i + m_ic with m_ic the mean of channel c of example i over H
    and W, with one f per example, `jax.random.uniform(key, (N,), minval=1 - max_change,
    maxval=1 + max_change)`. (torchvision's adjust_contrast blends with the mean of the greyscale
    image instead, and clips, so it does not commute with normalisation.)
    """
    _per_channel(images, None, "contrast")
    if not 0 <= max_change <= 1:
        raise ValueError(f"contrast max_change must be in [0, 1], got {max_change}")
    factor = jax.random.uniform(key, images.shape[:1], minval=1 - max_change, maxval=1 + max_change)
    mean = images.mean(axis=(1, 2), keepdims=True)
    return (images - mean) * factor[:, None, None, None] + mean


def lighting_eigen(channels: int, std: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues, eigenvectors as columns) of the pixel covariance on the [0, 1] scale, for PCA lighting.

    3 channels: ImageNet's published decomposition (IMAGENET_EIGENVALUES and _EIGENVECTORS), as
    AlexNet-style training uses for any RGB set. 1 channel: the 1 × 1 covariance is the dataset
    variance, so the eigenvalue is std², the eigenvector [1]. Other channel counts have no
    decomposition at hand (LIGHTING_CHANNELS lists those that do).
    """
    if channels == 3:
        return IMAGENET_EIGENVALUES, IMAGENET_EIGENVECTORS
    if channels == 1:
        if std is None:
            raise ValueError("PCA lighting of 1-channel images needs the dataset std: its square is the eigenvalue")
        return np.array([float(std[0]) ** 2], np.float32), np.ones((1, 1), np.float32)
    raise ValueError(f"PCA lighting needs 1- or 3-channel images, got {channels} channels")


def pca_lighting(key: jax.Array, images: jax.Array, alpha_std: float, eigenvalues: np.ndarray,
                 eigenvectors: np.ndarray, std: Sequence[float] | None = None) -> jax.Array:
    """AlexNet's colour shift (Krizhevsky et al. 2012, §4.1): adds Σ_j α_ij λ_j p_j to every pixel of example i.

    λ_j are `eigenvalues`, p_j the columns of `eigenvectors` (see `lighting_eigen`), and α_ij ~ N(0,
    alpha_std²), `alpha_std * jax.random.normal(key, (N, C))` (AlexNet: 0.1). The shift is on the
    [0, 1] scale, so channel c of normalised images moves by (Σ_j p_cj α_ij λ_j) / std[c], as in
    fb.resnet.torch's Lighting, which shifts before normalising.
    """
    std = _per_channel(images, std, "PCA lighting")
    channels = images.shape[-1]
    eigenvalues, eigenvectors = np.asarray(eigenvalues, np.float32), np.asarray(eigenvectors, np.float32)
    if eigenvalues.shape != (channels,) or eigenvectors.shape != (channels, channels):
        raise ValueError(f"PCA lighting of {channels}-channel images needs {channels} eigenvalues and a "
                         f"{channels}×{channels} eigenvector matrix, got shapes {eigenvalues.shape} and "
                         f"{eigenvectors.shape}")
    if not alpha_std >= 0:
        raise ValueError(f"PCA lighting alpha_std must be >= 0, got {alpha_std}")
    alpha = alpha_std * jax.random.normal(key, (images.shape[0], channels))
    shift = (alpha * eigenvalues) @ eigenvectors.T  # (N, C): row i is Σ_j α_ij λ_j p_j
    return images + (shift / std)[:, None, None, :]
