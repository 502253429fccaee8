import math

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest

from cnn import data
from cnn.models import create
from cnn.train.trained import Trained
from cnn.viz.confusion import class_recall, confusion_matrix, plot_confusion, trained_confusion

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def lenet():
    """LeNet-5 with numpy noise for kernels (std 1/sqrt(fan-in)) and zero biases, instead of seconds of compiled
    init; with tanh, not ReLU, whose positive mean would make it guess one or two classes for every noise image."""
    model = create("lenet5", num_classes=10, activation=jnp.tanh)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)), train=False))
    rng = np.random.default_rng(0)

    def fill(path, s):
        if path[-1].key != "kernel":
            return np.zeros(s.shape, s.dtype)
        return (rng.normal(size=s.shape) / math.sqrt(math.prod(s.shape[:-1]))).astype(s.dtype)

    return model, jax.tree_util.tree_map_with_path(fill, shapes)


def _reference(model, variables, images, labels, k=10):
    """Independent count: one unbatched, unjitted forward, then numpy."""
    predicted = np.asarray(model.apply(variables, jnp.asarray(images), train=False)[0]).argmax(-1)
    return np.bincount(labels * k + predicted, minlength=k * k).reshape(k, k), predicted


def test_confusion_matrix_counts_true_class_by_argmax_over_padded_batches(lenet):
    model, variables = lenet
    rng = np.random.default_rng(1)
    images = rng.normal(size=(70, 28, 28, 1)).astype(np.float32)
    labels = rng.integers(0, 10, 70)
    matrix = confusion_matrix(model, variables, images, labels, batch_size=32)  # 32 + 32 + 6 padded to 32
    expected, predicted = _reference(model, variables, images, labels)
    assert len(set(predicted)) >= 4  # the model really spreads its guesses, so rows and columns are both pinned
    assert matrix.shape == (10, 10) and matrix.dtype.kind == "i"
    np.testing.assert_array_equal(matrix, expected)
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(labels, minlength=10))
    assert np.trace(matrix) / matrix.sum() == pytest.approx(np.mean(predicted == labels))
    recall = class_recall(matrix)
    for c in range(10):
        assert recall[c] == pytest.approx(np.mean(predicted[labels == c] == c))


def test_bad_labels_and_batch_sizes_are_refused(lenet):
    model, variables = lenet
    images = np.zeros((4, 28, 28, 1), np.float32)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\).*from 0 to 10"):
        confusion_matrix(model, variables, images, np.array([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="one label per image, got 4 images and 3 labels"):
        confusion_matrix(model, variables, images, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="1D array of class indices"):
        confusion_matrix(model, variables, images, np.array([0.0, 1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        confusion_matrix(model, variables, images, np.array([0, 1, 2, 3]), batch_size=0)


def test_a_runs_confusion_covers_its_whole_test_split_normalised_as_in_training(lenet, tmp_path):
    model, variables = lenet
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (45, 28, 28, 1)).astype(np.uint8)  # stored as uint8: normalised on device
    labels = rng.integers(0, 10, 45)
    mean, std = (0.3,), (0.2,)
    split = data.Split(images, labels)
    dataset = data.Dataset("uint8_set", split, split, 10, tuple(map(str, range(10))), mean, std)
    trained = Trained(config=None, model=model, variables=variables, dataset=dataset, step=0, workdir=str(tmp_path))
    matrix = trained_confusion(trained, batch_size=16)
    normalised = ((images / np.float32(255) - np.float32(mean[0])) / np.float32(std[0])).astype(np.float32)
    np.testing.assert_array_equal(matrix, _reference(model, variables, normalised, labels)[0])
    assert matrix.sum() == 45


def test_plot_confusion_writes_a_png(tmp_path):
    matrix = np.random.default_rng(3).integers(0, 20, (10, 10))
    matrix[4] = 0  # a class with no test examples
    assert np.isnan(class_recall(matrix)[4])
    path = plot_confusion(matrix, [f"class {i}" for i in range(10)], str(tmp_path / "confusion.png"), "lenet5")
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 0 and image.shape[1] > 0
    many = plot_confusion(np.eye(80, dtype=int), [str(i) for i in range(80)], str(tmp_path / "many.png"))
    assert matplotlib.image.imread(many).shape[0] > 0
    with pytest.raises(ValueError, match="one class name per row of the 10×10 matrix, got 9"):
        plot_confusion(matrix, [str(i) for i in range(9)], str(tmp_path / "bad.png"))
    with pytest.raises(ValueError, match="square matrix"):
        plot_confusion(matrix[:3], [str(i) for i in range(3)], str(tmp_path / "bad.png"))
