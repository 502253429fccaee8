"""Brightness, contrast and PCA lighting checked on the [0, 1] pixel scale with numpy, through `augment`.

The images arrive normalised, x = (u − mean) / std; each test maps the output back to the pixel
scale and compares it with the textbook formula applied to u there.
"""

import jax
import ml_collections
import numpy as np
import pytest

from cnn.config import ConfigError
from cnn.data import augment as aug

# fb.resnet.torch's ImageNet PCA (datasets/imagenet.lua), eigenvectors as columns, rows R, G, B.
EIGENVALUES = np.array([0.2175, 0.0188, 0.0045])
EIGENVECTORS = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])
MEAN, STD = np.array([0.5, 0.4, 0.3]), np.array([0.25, 0.2, 0.3])


def _pixels(n: int = 32, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, 5, 6, c))


def _normalised(u: np.ndarray) -> np.ndarray:
    c = u.shape[-1]
    return ((u - MEAN[:c]) / STD[:c]).astype(np.float32)


def _config(**kwargs) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"crop_padding": 0, "flip": False, "brightness": 0.0, "contrast": 0.0,
                                      "pca_lighting": 0.0, **kwargs})


def _tagged(key: jax.Array, tag: bytes) -> jax.Array:
    return jax.random.fold_in(key, int.from_bytes(tag, "big"))


def _augment(key, u: np.ndarray, config) -> np.ndarray:
    """`augment` of the normalised `u`, mapped back to the [0, 1] scale."""
    c = u.shape[-1]
    out = aug.augment(key, _normalised(u), config, std=tuple(STD[:c]))
    return np.asarray(out, np.float64) * STD[:c] + MEAN[:c]


def _contrast(u: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """TF's adjust_contrast per example: (u − channel mean) · f + channel mean."""
    mean = u.mean(axis=(1, 2), keepdims=True)
    return (u - mean) * factors[:, None, None, None] + mean


def test_brightness_adds_a_uniform_delta_on_the_pixel_scale():
    u, key = _pixels(), aug.augmentation_key(0, 3)
    deltas = np.asarray(jax.random.uniform(_tagged(key, b"brig"), (32,), minval=-0.2, maxval=0.2))
    assert deltas.min() < -0.15 and deltas.max() > 0.15
    np.testing.assert_allclose(_augment(key, u, _config(brightness=0.2)), u + deltas[:, None, None, None],
                               rtol=0, atol=1e-5)


def test_contrast_scales_each_channel_about_its_mean():
    u, key = _pixels(), aug.augmentation_key(0, 4)
    factors = np.asarray(jax.random.uniform(_tagged(key, b"cont"), (32,), minval=0.6, maxval=1.4))
    assert factors.min() < 0.7 and factors.max() > 1.3
    np.testing.assert_allclose(_augment(key, u, _config(contrast=0.4)), _contrast(u, factors), rtol=0, atol=1e-5)


def test_pca_lighting_adds_the_imagenet_eigen_shift_to_rgb():
    u, key = _pixels(), aug.augmentation_key(0, 5)
    alphas = 0.1 * np.asarray(jax.random.normal(_tagged(key, b"pca_"), (32, 3)), np.float64)
    shift = np.stack([sum(a[j] * EIGENVALUES[j] * EIGENVECTORS[:, j] for j in range(3)) for a in alphas])
    np.testing.assert_allclose(_augment(key, u, _config(pca_lighting=0.1)), u + shift[:, None, None, :],
                               rtol=0, atol=1e-5)
    assert 0.05 < np.abs(alphas).mean() < 0.12  # N(0, 0.1²): E|α| = 0.08


def test_pca_lighting_of_one_channel_uses_the_dataset_variance():
    u, key = _pixels(c=1), aug.augmentation_key(0, 6)
    alphas = 0.1 * np.asarray(jax.random.normal(_tagged(key, b"pca_"), (32, 1)), np.float64)
    np.testing.assert_allclose(_augment(key, u, _config(pca_lighting=0.1)),
                               u + (alphas * STD[0] ** 2)[:, None, None, :], rtol=0, atol=1e-5)


def test_photometric_follow_flip_in_order_with_their_own_keys():
    u, key = _pixels(), aug.augmentation_key(1, 2)
    flipped = _augment(key, u, _config(crop_padding=1, flip=True))
    out = _augment(key, u, _config(crop_padding=1, flip=True, brightness=0.1, contrast=0.3, pca_lighting=0.1))
    # The crop and flip draws are unchanged; brightness, contrast and lighting follow in that order.
    deltas = np.asarray(jax.random.uniform(_tagged(key, b"brig"), (32,), minval=-0.1, maxval=0.1))
    factors = np.asarray(jax.random.uniform(_tagged(key, b"cont"), (32,), minval=0.7, maxval=1.3))
    alphas = 0.1 * np.asarray(jax.random.normal(_tagged(key, b"pca_"), (32, 3)), np.float64)
    shift = (alphas * EIGENVALUES) @ EIGENVECTORS.T
    expected = _contrast(flipped + deltas[:, None, None, None], factors) + shift[:, None, None, :]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


def test_photometric_are_functions_of_seed_and_step_and_off_at_zero():
    x = _normalised(_pixels(8))
    config = _config(brightness=0.1, contrast=0.2, pca_lighting=0.1)
    run = jax.jit(lambda step, x: aug.augment(aug.augmentation_key(0, step), x, config, std=tuple(STD)))
    np.testing.assert_array_equal(run(5, x), run(5, x))
    assert not np.array_equal(run(5, x), run(6, x))
    assert aug.augment(jax.random.key(0), x, _config(), std=tuple(STD)) is x
    key = jax.random.key(1)
    np.testing.assert_array_equal(aug.augment(key, x, _config(flip=True), std=tuple(STD)),
                                  aug.augment(key, x, _config(flip=True, brightness=0.0), std=tuple(STD)))


@pytest.mark.parametrize(("key", "value", "channels", "message"), [
    ("brightness", -0.1, 3, r"config\.augment\.brightness -0\.1 must be a number in \[0, 1\]"),
    ("brightness", 1.5, 3, r"config\.augment\.brightness 1\.5 must be a number in \[0, 1\]"),
    ("contrast", 1.2, 3, r"config\.augment\.contrast 1\.2 must be a number in \[0, 1\]"),
    ("contrast", -1.0, 3, r"config\.augment\.contrast -1\.0 must be a number in \[0, 1\]"),
    ("pca_lighting", -0.1, 3, r"config\.augment\.pca_lighting -0\.1 must be a finite number >= 0"),
    ("pca_lighting", float("inf"), 3, r"config\.augment\.pca_lighting inf must be a finite number >= 0"),
    ("pca_lighting", 0.1, 2, r"config\.augment\.pca_lighting 0\.1 needs 1-channel .* 3-channel .* these have 2 "
                             r"channels: set it to 0"),
    ("pca_lighting", 0.1, 4, r"config\.augment\.pca_lighting 0\.1 .* these have 4 channels"),
])
def test_bad_photometric_values_name_the_key_and_range(key, value, channels, message):
    with pytest.raises(ConfigError, match=message):
        aug.augment(jax.random.key(0), np.zeros((2, 5, 6, channels), np.float32), _config(**{key: value}))
