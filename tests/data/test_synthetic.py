import numpy as np
import pytest

from cnn.data import DatasetError, load


def test_shapes_classes_and_balanced_labels():
    ds = load("synthetic:16x12x3:5")
    batch = ds.train.batch(np.arange(100))
    assert batch["image"].shape == (100, 16, 12, 3) and batch["image"].dtype == np.float32
    assert ds.num_classes == 5 and ds.image_shape == (16, 12, 3) and len(ds.train) == 4096
    assert np.bincount(batch["label"]).tolist() == [20] * 5
    assert load("synthetic").image_shape == (28, 28, 1)


def test_examples_depend_on_their_index_only():
    ds = load("synthetic:8x8x1")
    a = ds.train.batch(np.array([5, 9]))
    b = ds.train.batch(np.array([9, 5, 7]))
    np.testing.assert_array_equal(a["image"][0], b["image"][1])
    assert not np.array_equal(ds.train.batch(np.array([5]))["image"], ds.test.batch(np.array([5]))["image"])


def test_classes_are_separable_by_their_mean_image():
    ds = load("synthetic:8x8x1:4")
    train, test = ds.train.batch(np.arange(400)), ds.test.batch(np.arange(200))
    means = np.stack([train["image"][train["label"] == k].mean(axis=0) for k in range(4)])
    distances = ((test["image"][:, None] - means[None]) ** 2).sum(axis=(2, 3, 4))
    assert (distances.argmin(axis=1) == test["label"]).mean() > 0.95


@pytest.mark.parametrize("name", ["synthetic:32x32", "synthetic:0x4x1", "synthetic:4x4x1:1"])
def test_bad_specs_are_explained(name):
    with pytest.raises(DatasetError, match="synthetic"):
        load(name)
