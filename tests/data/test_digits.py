"""scikit-learn's digits, checked against scikit-learn's own arrays and independent resizers."""

import numpy as np
import pytest
from scipy import ndimage
from sklearn.datasets import load_digits

from cnn.data import DatasetError, load
from cnn.data.digits import load_digits_dataset


@pytest.fixture(scope="module")
def sk():
    return load_digits()


@pytest.fixture(scope="module")
def native():
    return load_digits_dataset()


@pytest.fixture(scope="module")
def upsampled():
    return load("digits", image_size=28)


def _denormalise(ds, split):
    return split.images[..., 0].astype(np.float64) * ds.std[0] + ds.mean[0]


def test_split_is_first_half_train_as_in_sklearns_example(native, sk):
    assert len(native.train) == 898 and len(native.test) == 899
    np.testing.assert_array_equal(native.train.labels, sk.target[:898])
    np.testing.assert_array_equal(native.test.labels, sk.target[898:])
    assert native.train.labels.dtype == np.int32
    assert native.name == "digits" and native.num_classes == 10 and native.class_names == tuple("0123456789")


def test_native_pixels_are_sklearns_over_16(native, sk):
    assert native.train.images.shape == (898, 8, 8, 1) and native.train.images.dtype == np.float32
    np.testing.assert_allclose(_denormalise(native, native.train), sk.images[:898] / 16, rtol=0, atol=1e-6)
    np.testing.assert_allclose(_denormalise(native, native.test), sk.images[898:] / 16, rtol=0, atol=1e-6)


def test_statistics_are_those_of_the_train_pixels(native, sk):
    train = sk.images[:898] / 16
    assert native.mean == pytest.approx((train.mean(),), abs=1e-12)
    assert native.std == pytest.approx((train.std(),), abs=1e-12)
    # So the normalised training split has zero mean and unit variance, and the test split does not exactly.
    assert abs(native.train.images.mean()) < 1e-5 and abs(native.train.images.std() - 1) < 1e-5
    assert abs(native.test.images.mean()) > 1e-3


def test_upsampling_is_bilinear_with_half_pixel_centres(upsampled, sk):
    # scipy's zoom with grid_mode=True aligns pixel edges (centres at half-integers, as jax.image.resize
    # and PIL do), and mode="nearest" repeats the edge pixel beyond the outermost centres, as jax does.
    reference = ndimage.zoom(sk.images / 16, (1, 28 / 8, 28 / 8), order=1, grid_mode=True, mode="nearest")
    assert upsampled.train.images.shape == (898, 28, 28, 1) and upsampled.test.images.shape == (899, 28, 28, 1)
    np.testing.assert_allclose(_denormalise(upsampled, upsampled.train), reference[:898], rtol=0, atol=1e-6)
    np.testing.assert_allclose(_denormalise(upsampled, upsampled.test), reference[898:], rtol=0, atol=1e-6)
    assert upsampled.mean == pytest.approx((reference[:898].mean(),), abs=1e-12)
    assert upsampled.std == pytest.approx((reference[:898].std(),), abs=1e-12)
    np.testing.assert_array_equal(upsampled.test.labels, sk.target[898:])


def test_upsampling_matches_jax_image_resize_on_one_image(upsampled, sk):
    import jax

    image = sk.images[1000] / 16
    expected = np.asarray(jax.image.resize(image.astype(np.float32), (28, 28), method="linear"))
    np.testing.assert_allclose(_denormalise(upsampled, upsampled.test)[1000 - 898], expected, rtol=0, atol=1e-5)


def test_size_8_is_native(native):
    np.testing.assert_allclose(load_digits_dataset(8).train.images, native.train.images, rtol=0, atol=1e-6)


def test_sizes_below_8_are_refused():
    with pytest.raises(DatasetError, match=r"config.dataset.image_size 4: .*8×8.*>= 8"):
        load("digits", image_size=4)


def test_missing_sklearn_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(DatasetError, match="pip install scikit-learn"):
        load_digits_dataset()


def test_unknown_name_lists_digits():
    with pytest.raises(DatasetError, match="Did you mean 'digits'.*Known datasets: .*digits"):
        load("digit")
