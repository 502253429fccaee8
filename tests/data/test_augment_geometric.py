"""Rotation against scipy.ndimage.rotate and cutout against a numpy reference, alone and through `augment`."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import scipy.ndimage

from cnn.config import ConfigError
from cnn.data import Dataset, Split
from cnn.data import augment as aug
from cnn.data import geometric
from cnn.train.compiled import train_input


def _images(n: int, h: int = 9, w: int = 12, c: int = 2, seed: int = 0) -> np.ndarray:
    # Continuous random values: no pixel is 0 by chance, so zeros are what an augmentation wrote.
    return np.random.default_rng(seed).normal(size=(n, h, w, c)).astype(np.float32)


def _config(**kwargs) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"crop_padding": 0, "translate": 0, "flip": False, "rotate": 0.0, "cutout": 0,
                                      **kwargs})


def _tagged(key: jax.Array, tag: bytes) -> jax.Array:
    """The documented key of a later augmentation: the batch key with its four-byte tag folded in."""
    return jax.random.fold_in(key, int.from_bytes(tag, "big"))


_rotate = jax.jit(geometric.rotate)


def _scipy_rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    return scipy.ndimage.rotate(image.astype(np.float64), float(degrees), reshape=False, order=1, mode="constant",
                                cval=0.0)


def _cutout_reference(images: np.ndarray, centres: np.ndarray, side: int) -> np.ndarray:
    """DeVries & Taylor's cutout: the square of `side` around each centre, clipped at the borders, set to 0."""
    out = images.copy()
    h, w = images.shape[1:3]
    for image, (y, x) in zip(out, centres):
        top, left = y - side // 2, x - side // 2
        image[max(top, 0) : min(top + side, h), max(left, 0) : min(left + side, w)] = 0
    return out


@pytest.mark.parametrize("shape", [(9, 12, 2), (8, 8, 1)])
def test_rotate_matches_scipy_including_right_angles(shape):
    # On the 8×8 image a right angle maps border pixels exactly onto the border: float32 must not blank them.
    degrees = np.array([0.0, 90.0, -90.0, 180.0, 45.0, -17.3, 123.4, 0.5], np.float32)
    images = _images(len(degrees), *shape)
    out = np.asarray(_rotate(images, degrees))
    for x, y, angle in zip(images, out, degrees):
        np.testing.assert_allclose(y, _scipy_rotate(x, angle), rtol=0, atol=2e-5, err_msg=f"{angle}°")


def test_rotate_turns_counter_clockwise_by_hand():
    image = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    out = np.asarray(_rotate(image, np.array([90.0], np.float32)))[0, :, :, 0]
    np.testing.assert_allclose(out, [[3, 6, 9], [2, 5, 8], [1, 4, 7]], atol=1e-5)


def test_random_rotate_draws_uniform_angles_and_matches_scipy():
    images, key, max_degrees = _images(48, 7, 7, 1), jax.random.key(3), 30.0
    out = np.asarray(geometric.random_rotate(key, images, max_degrees))
    angles = np.asarray(jax.random.uniform(key, (48,), minval=-max_degrees, maxval=max_degrees))
    assert angles.min() < -25 and angles.max() > 25
    for x, y, angle in zip(images, out, angles):
        np.testing.assert_allclose(y, _scipy_rotate(x, angle), rtol=0, atol=2e-5)


@pytest.mark.parametrize("side", [3, 4])
def test_random_cutout_zeroes_a_clipped_square_at_uniform_centres(side):
    images, key = _images(64, 7, 6, 2), jax.random.key(5)
    out = np.asarray(geometric.random_cutout(key, images, side))
    centres = np.asarray(jax.random.randint(key, (64, 2), 0, jnp.array([7, 6])))
    np.testing.assert_array_equal(out, _cutout_reference(images, centres, side))
    assert set(centres[:, 0]) == set(range(7)) and set(centres[:, 1]) == set(range(6))
    zeroed = (out == 0).all(axis=-1).sum(axis=(1, 2))
    assert zeroed.max() == side * side and zeroed.min() < side * side  # whole squares and clipped ones


def test_augment_rotates_and_cuts_out_after_flip_with_their_own_keys():
    images, key = _images(16), aug.augmentation_key(0, 7)
    flipped = np.asarray(aug.augment(key, images, _config(crop_padding=1, flip=True)))
    out = np.asarray(aug.augment(key, images, _config(crop_padding=1, flip=True, rotate=20.0, cutout=4)))
    # The crop and flip draws are those without rotation and cutout; then rotate, then cut out.
    angles = np.asarray(jax.random.uniform(_tagged(key, b"rota"), (16,), minval=-20.0, maxval=20.0))
    rotated = np.stack([_scipy_rotate(x, a) for x, a in zip(flipped, angles)])
    centres = np.asarray(jax.random.randint(_tagged(key, b"cuto"), (16, 2), 0, jnp.array([9, 12])))
    np.testing.assert_allclose(out, _cutout_reference(rotated, centres, 4), rtol=0, atol=2e-5)


def test_rotate_and_cutout_are_functions_of_seed_and_step_and_off_at_zero():
    images = _images(8)
    config = _config(rotate=15.0, cutout=3)
    run = jax.jit(lambda step, x: aug.augment(aug.augmentation_key(0, step), x, config))
    np.testing.assert_array_equal(run(5, images), run(5, images))
    assert not np.array_equal(run(5, images), run(6, images))
    assert aug.augment(jax.random.key(0), images, _config()) is images
    key = jax.random.key(1)
    np.testing.assert_array_equal(aug.augment(key, images, _config(flip=True, rotate=0.0, cutout=0)),
                                  aug.augment(key, images, _config(flip=True)))


@pytest.mark.parametrize(("key", "value", "message"), [
    ("rotate", -1.0, r"config\.augment\.rotate -1\.0 must be a number in \[0, 180\]"),
    ("rotate", 181.0, r"config\.augment\.rotate 181\.0 must be a number in \[0, 180\]"),
    ("rotate", float("nan"), r"config\.augment\.rotate nan must be a number in \[0, 180\]"),
    ("cutout", -2, r"config\.augment\.cutout -2 must be an integer in \[0, 9\]"),
    ("cutout", 10, r"config\.augment\.cutout 10 must be an integer in \[0, 9\].*9×12 images"),
    ("cutout", 2.5, r"config\.augment\.cutout 2\.5 must be an integer"),
])
def test_bad_rotate_and_cutout_values_name_the_key_and_range(key, value, message):
    with pytest.raises(ConfigError, match=message):
        aug.augment(jax.random.key(0), _images(2), _config(**{key: value}))
    # Before any step runs, whether or not the value turns the augmentation on.
    split = Split(np.zeros((1, 9, 12, 2), np.float32), np.zeros(1, np.int32))
    dataset = Dataset("dummy", split, split, 10, tuple(map(str, range(10))), (0.0, 0.0), (1.0, 1.0))
    with pytest.raises(ConfigError, match=message):
        train_input(ml_collections.ConfigDict({"seed": 0, "augment": _config(**{key: value})}), dataset)
