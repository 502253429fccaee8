"""Batch augmentation as pure JAX functions, meant to run on device inside the jitted train step.

Every function takes and returns a whole NHWC batch with static shapes, draws one set of
random parameters per example (mixup: per batch) from the given key, and needs no host round-trip. With
`augmentation_key(seed, step)` as the key, the augmented batch of a step is a function of
(seed, step) alone, so a resumed run replays exactly what an uninterrupted one saw.

`augment` reads these keys of the augment config (`config.augment`) and applies them in this
order; a missing key, 0 or False is off:
  crop_padding  int >= 0. Pad H and W by this much on each side, then crop back at a random offset.
  crop_mode     "constant" (zeros, the default), "edge" or "reflect": how the crop padding is filled.
  translate     int >= 0. Shift each image by up to this many pixels along each axis, filling with 0.
  flip          bool. Flip each image left-right with probability 0.5.
  rotate        float in [0, 180]. Rotate each image by a uniform angle in [-rotate, rotate] degrees
                about its centre, bilinearly, filling with 0 (`geometric.rotate`).
  brightness    float in [0, 1]. Add a uniform delta in [-brightness, brightness] on the [0, 1] scale.
  contrast      float in [0, 1]. Scale each channel about its mean by a factor uniform in [1 ± contrast].
  pca_lighting  float >= 0. AlexNet's PCA colour shift with α ~ N(0, pca_lighting²) (AlexNet: 0.1);
                1- or 3-channel images only (`photometric.lighting_eigen`).
  cutout        int in [0, min(H, W)]. Zero a cutout × cutout square at a random centre per image.
  mixup         float >= 0. Mix the batch and its targets with a permutation of itself, weight
                λ ~ Beta(mixup, mixup) (`mixup.mixup`); needs the targets.
Fill values and zeroed squares are 0 on the scale the images arrive on: the dataset mean for
normalised images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnn import keys
from cnn.config import ConfigError
from cnn.data import geometric, photometric
from cnn.data.mixup import mixup
from cnn.suggest import unknown

CROP_MODES = ("constant", "edge", "reflect")

# "augm" as a big-endian uint32. The train run derives its init and dropout keys by splitting
# jax.random.key(seed); folding a fixed tag into that root key instead gives a stream no split
# of it reproduces, so turning augmentation on leaves the init and dropout streams (and thus
# runs without augmentation) unchanged.
_AUGMENT_TAG = int.from_bytes(b"augm", "big")


def augmentation_key(seed: int, step: jax.Array | int) -> jax.Array:
    """The augmentation key of training step `step`; `step` may be traced (e.g. state.step under jit)."""
    return jax.random.fold_in(jax.random.fold_in(keys.key(seed), _AUGMENT_TAG), step)


def _check_batch(images: jax.Array) -> None:
    if images.ndim != 4:
        raise ValueError(f"expected an NHWC batch of images, got shape {images.shape}")


def _check_mode(mode: str) -> None:
    if mode not in CROP_MODES:
        raise ValueError(unknown("crop mode", mode, CROP_MODES))


def _crop_at_random_offsets(key: jax.Array, padded: jax.Array, margin: int) -> jax.Array:
    """Crops each example of `padded` (padded by `margin` per side) back to its original size.

    The (row, column) offset of each example is uniform in [0, 2 * margin]², drawn independently.
    """
    n, height, width, channels = padded.shape
    size = (height - 2 * margin, width - 2 * margin, channels)
    offsets = jax.random.randint(key, (n, 2), 0, 2 * margin + 1)

    def crop(image: jax.Array, offset: jax.Array) -> jax.Array:
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), size)

    return jax.vmap(crop)(padded, offsets)


def _pad_spatial(images: jax.Array, padding: int, mode: str, fill: float = 0.0) -> jax.Array:
    widths = ((0, 0), (padding, padding), (padding, padding), (0, 0))
    if mode == "constant":
        return jnp.pad(images, widths, mode="constant", constant_values=fill)
    return jnp.pad(images, widths, mode=mode)


def random_crop(key: jax.Array, images: jax.Array, padding: int, mode: str = "constant") -> jax.Array:
    """Pads H and W by `padding` per side (`mode`: see CROP_MODES), then crops back at a random offset per example."""
    _check_batch(images)
    _check_mode(mode)
    if padding < 0:
        raise ValueError(f"crop padding must be >= 0, got {padding}")
    return _crop_at_random_offsets(key, _pad_spatial(images, padding, mode), padding)


def random_translate(key: jax.Array, images: jax.Array, max_shift: int, fill: float = 0.0) -> jax.Array:
    """Shifts each example by an independent integer (dy, dx) in [-max_shift, max_shift]², filling with `fill`."""
    _check_batch(images)
    if max_shift < 0:
        raise ValueError(f"translation max_shift must be >= 0, got {max_shift}")
    # A shift by (dy, dx) is the crop at offset (max_shift - dy, max_shift - dx) of the batch padded
    # with `fill`; a uniform offset in [0, 2 * max_shift] is a uniform shift in [-max_shift, max_shift].
    return _crop_at_random_offsets(key, _pad_spatial(images, max_shift, "constant", fill), max_shift)


def horizontal_flip(key: jax.Array, images: jax.Array, probability: float = 0.5) -> jax.Array:
    """Flips each example left-right, independently, with `probability`."""
    _check_batch(images)
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"flip probability must be in [0, 1], got {probability}")
    flipped = jax.random.bernoulli(key, probability, (images.shape[0],))
    return jnp.where(flipped[:, None, None, None], images[:, :, ::-1], images)


def normalize(images: jax.Array, mean: Sequence[float], std: Sequence[float]) -> jax.Array:
    """Returns float32 (x - mean[c]) / std[c] per channel c (the last axis).

    uint8 images are first scaled to [0, 1] (divided by 255), so `mean` and `std` are always
    given on the [0, 1] scale, whatever the storage dtype; float images are used as they are.
    """
    _check_batch(images)
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    channels = images.shape[-1]
    for name, values in (("mean", mean), ("std", std)):
        if values.shape != (channels,):
            raise ValueError(
                f"normalize {name} has {values.size} values but the images have {channels} channels; "
                f"give one {name} per channel"
            )
    if np.any(std <= 0):
        raise ValueError(f"normalize std must be positive per channel, got {std.tolist()}")
    images = jnp.asarray(images)
    x = images.astype(jnp.float32) / 255.0 if images.dtype == jnp.uint8 else images.astype(jnp.float32)
    return (x - mean) / std


# The augmentations after flip, in their order.
_LATER = ("rotate", "brightness", "contrast", "pca_lighting", "cutout", "mixup")
# The largest value and the unit of each float one, for the error messages.
_RANGES = {
    "rotate": (180.0, "degrees"),
    "brightness": (1.0, "a delta on the [0, 1] pixel scale"),
    "contrast": (1.0, "the largest change of the contrast factor"),
    "pca_lighting": (math.inf, "the std of α; AlexNet's is 0.1"),
    "mixup": (math.inf, "the α of Beta(α, α)"),
}


def _subkey(key: jax.Array, name: str) -> jax.Array:
    """The key of augmentation `name`: folding in a fixed tag (its first four bytes), rather than widening
    the split of `key` that crop, translate and flip draw from, keeps their draws unchanged."""
    return jax.random.fold_in(key, int.from_bytes(name.encode()[:4], "big"))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_config(config: ml_collections.ConfigDict, image_shape: Sequence[int]) -> None:
    """Raises ConfigError naming the key, the value and the valid range for any value `augment` cannot
    apply to images of `image_shape` (H, W, C); run it before training so a bad value fails at once."""
    mode = config.get("crop_mode", "constant")
    try:
        _check_mode(mode)  # even with cropping off, so a misspelt mode fails at once
    except ValueError as e:
        raise ConfigError(f"config.augment.crop_mode: {e}") from None
    for name in ("crop_padding", "translate"):
        value = config.get(name, 0)
        if not _is_int(value) or value < 0:
            raise ConfigError(f"config.augment.{name} {value!r} must be an integer >= 0 (pixels; 0: off)")
    for name, (high, unit) in _RANGES.items():
        value = config.get(name, 0)
        if not (_is_int(value) or isinstance(value, float)) or not (0 <= value <= high and math.isfinite(value)):
            bounds = "a finite number >= 0" if high == math.inf else f"a number in [0, {high:g}]"
            raise ConfigError(f"config.augment.{name} {value!r} must be {bounds} ({unit}; 0: off)")
    height, width, channels = image_shape
    side = config.get("cutout", 0)
    if not _is_int(side) or not 0 <= side <= min(height, width):
        raise ConfigError(f"config.augment.cutout {side!r} must be an integer in [0, {min(height, width)}] (the "
                          f"side of the square in pixels, at most that of the {height}×{width} images; 0: off)")
    if config.get("pca_lighting", 0) > 0 and channels not in photometric.LIGHTING_CHANNELS:
        raise ConfigError(f"config.augment.pca_lighting {config.pca_lighting!r} needs 1-channel images (the "
                          f"dataset variance is the eigenvalue) or 3-channel ones (ImageNet's RGB eigenvectors); "
                          f"these have {channels} channels: set it to 0")


def enabled(config: ml_collections.ConfigDict) -> bool:
    """Whether the augment config turns on any augmentation."""
    return (config.get("crop_padding", 0) > 0 or config.get("translate", 0) > 0 or bool(config.get("flip", False))
            or any(config.get(name, 0) > 0 for name in _LATER))


def augment(key: jax.Array, images: jax.Array, config: ml_collections.ConfigDict, *,
            std: Sequence[float] | None = None, targets: jax.Array | None = None):
    """Applies the augmentations the augment config asks for, in the order of the module doc.

    `config` is static: close over it when jitting. `std` is the per-channel std the images were
    normalised by (None: they are on the [0, 1] scale), for the perturbations defined on that
    scale. Returns the images, or with `targets` (needed by mixup: [N, classes] distributions)
    (images, targets), the targets mixed like the images or, with mixup off, as given. With
    everything off, `images` (and `targets`) are returned as they are.
    """
    _check_batch(images)
    check_config(config, images.shape[1:])
    mixes = config.get("mixup", 0) > 0
    if mixes and targets is None:
        raise ValueError("config.augment.mixup mixes the targets with the images: pass targets=[N, classes]")
    if not enabled(config):
        return images if targets is None else (images, targets)
    # Always three keys, so switching one augmentation on or off leaves the others' draws unchanged.
    crop_key, translate_key, flip_key = jax.random.split(key, 3)
    if config.get("crop_padding", 0) > 0:
        images = random_crop(crop_key, images, config.crop_padding, config.get("crop_mode", "constant"))
    if config.get("translate", 0) > 0:
        images = random_translate(translate_key, images, config.translate)
    if config.get("flip", False):
        images = horizontal_flip(flip_key, images)
    if config.get("rotate", 0) > 0:
        images = geometric.random_rotate(_subkey(key, "rotate"), images, config.rotate)
    if config.get("brightness", 0) > 0:
        images = photometric.random_brightness(_subkey(key, "brightness"), images, config.brightness, std)
    if config.get("contrast", 0) > 0:
        images = photometric.random_contrast(_subkey(key, "contrast"), images, config.contrast)
    if config.get("pca_lighting", 0) > 0:
        eigenvalues, eigenvectors = photometric.lighting_eigen(images.shape[-1], std)
        images = photometric.pca_lighting(_subkey(key, "pca_lighting"), images, config.pca_lighting,
                                          eigenvalues, eigenvectors, std)
    if config.get("cutout", 0) > 0:
        images = geometric.random_cutout(_subkey(key, "cutout"), images, config.cutout)
    if mixes:
        images, targets = mixup(_subkey(key, "mixup"), images, targets, config.mixup)
    return images if targets is None else (images, targets)
