"""Augmentations checked against numpy references found by exhaustive search over the allowed parameters."""

import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from cnn.data import augment as aug


def _images(n: int, h: int = 6, w: int = 7, c: int = 2, seed: int = 0) -> np.ndarray:
    # Continuous random values: two different crops or shifts of one image never coincide.
    return np.random.default_rng(seed).normal(size=(n, h, w, c)).astype(np.float32)


def _crop_offsets(images: np.ndarray, out: np.ndarray, padding: int, mode: str) -> list[tuple[int, int]]:
    """For each example, the one offset at which np.pad(mode) then cropping gives the output (asserts one exists)."""
    _, h, w, _ = images.shape
    found = []
    for x, y in zip(images, out):
        padded = np.pad(x, ((padding, padding), (padding, padding), (0, 0)), mode=mode)
        hits = [(i, j) for i, j in itertools.product(range(2 * padding + 1), repeat=2)
                if np.array_equal(padded[i : i + h, j : j + w], y)]
        assert len(hits) == 1, f"output matches {len(hits)} crops of the {mode}-padded input"
        found.append(hits[0])
    return found


def _shifted(x: np.ndarray, dy: int, dx: int, fill: float) -> np.ndarray:
    """x moved down by dy and right by dx (negative: up, left); uncovered pixels are `fill`."""
    h, w = x.shape[:2]
    out = np.full_like(x, fill)
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[max(-dy, 0) : h - max(dy, 0),
                                                                      max(-dx, 0) : w - max(dx, 0)]
    return out


def _config(**kwargs) -> ml_collections.ConfigDict:
    base = {"crop_padding": 0, "crop_mode": "constant", "translate": 0, "flip": False}
    return ml_collections.ConfigDict({**base, **kwargs})


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_random_crop_is_a_padded_crop_at_offsets_covering_the_range(mode):
    images, padding = _images(64), 2
    out = np.asarray(aug.random_crop(jax.random.key(0), images, padding, mode))
    assert out.shape == images.shape
    offsets = _crop_offsets(images, out, padding, mode)
    assert len(set(offsets)) >= 10
    # Both extremes 0 and 2 * padding occur on each axis, so the range is neither too short nor shifted.
    for axis in range(2):
        assert {o[axis] for o in offsets} == set(range(2 * padding + 1))


def test_random_crop_padding_one_by_hand():
    image = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    # The nine 2×2 windows of [[0,0,0,0],[0,1,2,0],[0,3,4,0],[0,0,0,0]].
    windows = {
        ((0, 0), (0, 1)), ((0, 0), (1, 2)), ((0, 0), (2, 0)),
        ((0, 1), (0, 3)), ((1, 2), (3, 4)), ((2, 0), (4, 0)),
        ((0, 3), (0, 0)), ((3, 4), (0, 0)), ((4, 0), (0, 0)),
    }
    batch = np.broadcast_to(image[None, :, :, None], (64, 2, 2, 1))
    out = np.asarray(aug.random_crop(jax.random.key(1), batch, padding=1))
    seen = {tuple(map(tuple, y[:, :, 0].astype(int).tolist())) for y in out}
    assert seen == windows


def test_random_translate_is_a_filled_shift_covering_the_range():
    images, max_shift, fill = _images(64), 2, -3.5
    out = np.asarray(aug.random_translate(jax.random.key(2), images, max_shift, fill))
    shifts = []
    for x, y in zip(images, out):
        hits = [(dy, dx) for dy, dx in itertools.product(range(-max_shift, max_shift + 1), repeat=2)
                if np.array_equal(_shifted(x, dy, dx, fill), y)]
        assert len(hits) == 1
        shifts.append(hits[0])
    assert len(set(shifts)) >= 10
    for axis in range(2):
        assert {s[axis] for s in shifts} == set(range(-max_shift, max_shift + 1))


def test_shift_reference_by_hand():
    x = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    np.testing.assert_array_equal(_shifted(x, 1, -1, 0), [[0, 0, 0], [2, 3, 0]])


def _flipped_mask(images: np.ndarray, out: np.ndarray) -> np.ndarray:
    flipped = np.array([np.array_equal(y, x[:, ::-1]) for x, y in zip(images, out)])
    kept = np.array([np.array_equal(y, x) for x, y in zip(images, out)])
    assert np.all(flipped ^ kept), "every output is exactly the input or its mirror image, never both"
    return flipped


@pytest.mark.parametrize("probability,low,high", [(0.0, 0.0, 0.0), (0.3, 0.25, 0.35), (0.5, 0.4, 0.6), (1.0, 1.0, 1.0)])
def test_horizontal_flip_rate(probability, low, high):
    images = _images(1000, h=3, w=4, c=1)
    out = np.asarray(aug.horizontal_flip(jax.random.key(3), images, probability))
    assert low <= _flipped_mask(images, out).mean() <= high


def test_normalize_float_and_uint8():
    mean, std = [0.5, -1.0, 2.0], [0.25, 2.0, 4.0]
    x = _images(4, c=3)
    expected = (x - np.array(mean)) / np.array(std)
    out = aug.normalize(x, mean, std)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)

    raw = np.random.default_rng(1).integers(0, 256, (4, 5, 5, 3)).astype(np.uint8)
    expected = (raw.astype(np.float64) / 255.0 - np.array(mean)) / np.array(std)
    out = aug.normalize(raw, mean, std)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_normalize_rejects_a_mean_per_wrong_channel_count():
    with pytest.raises(ValueError, match="mean has 1 values but the images have 3 channels"):
        aug.normalize(_images(2, c=3), [0.5], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="std must be positive"):
        aug.normalize(_images(2, c=1), [0.5], [0.0])


def test_augmentation_key_is_a_function_of_seed_and_step():
    config = _config(crop_padding=2, crop_mode="reflect", translate=1, flip=True)
    images = _images(16)

    def run(seed, step):
        return np.asarray(aug.augment(aug.augmentation_key(seed, step), images, config))

    np.testing.assert_array_equal(run(0, 5), run(0, 5))
    assert not np.array_equal(run(0, 5), run(0, 6))
    assert not np.array_equal(run(0, 5), run(1, 5))

    jitted = jax.jit(lambda step, x: aug.augment(aug.augmentation_key(0, step), x, config))
    np.testing.assert_array_equal(jitted(jnp.int32(5), images), run(0, 5))
    np.testing.assert_array_equal(jitted(jnp.int32(6), images), run(0, 6))


def test_augmentation_stream_is_not_the_init_or_dropout_stream():
    # How the train run derives its other keys from the seed.
    init_key, dropout_key = jax.random.split(jax.random.key(0))
    others = {tuple(jax.random.key_data(k).tolist()) for k in (init_key, dropout_key)}
    for step in range(8):
        others.add(tuple(jax.random.key_data(jax.random.fold_in(dropout_key, step)).tolist()))
    ours = {tuple(jax.random.key_data(aug.augmentation_key(0, step)).tolist()) for step in range(8)}
    assert len(ours) == 8 and not ours & others


def test_augment_all_off_is_identity_and_enabled_says_so():
    images = _images(8)
    config = _config()
    assert not aug.enabled(config)
    assert aug.augment(jax.random.key(0), images, config) is images
    assert not aug.enabled(ml_collections.ConfigDict())
    for on in ({"crop_padding": 1}, {"translate": 1}, {"flip": True}):
        assert aug.enabled(_config(**on))


def test_augment_applies_each_option_under_jit():
    images = _images(64)
    key = jax.random.key(4)

    crop = jax.jit(lambda k, x: aug.augment(k, x, _config(crop_padding=1, crop_mode="edge")))(key, images)
    assert not np.array_equal(crop, images)
    _crop_offsets(images, np.asarray(crop), 1, "edge")

    flip = np.asarray(jax.jit(lambda k, x: aug.augment(k, x, _config(flip=True)))(key, images))
    assert 0 < _flipped_mask(images, flip).sum() < len(images)

    shift = np.asarray(jax.jit(lambda k, x: aug.augment(k, x, _config(translate=1)))(key, images))
    for x, y in zip(images, shift):
        assert any(np.array_equal(_shifted(x, dy, dx, 0.0), y) for dy, dx in itertools.product(range(-1, 2), repeat=2))
    assert not np.array_equal(shift, images)


def test_unknown_crop_mode_names_the_config_key_and_known_modes():
    with pytest.raises(ValueError, match=r"config\.augment\.crop_mode: unknown crop mode 'reflec'\. "
                                         r"Did you mean 'reflect'\? Known crop modes: constant, edge, reflect"):
        aug.augment(jax.random.key(0), _images(2), _config(crop_padding=4, crop_mode="reflec"))
    with pytest.raises(ValueError, match="unknown crop mode 'wrap'"):
        aug.random_crop(jax.random.key(0), _images(2), 1, mode="wrap")
