"""Confusion matrices: which classes a model takes for which, counted over a set of images and drawn as a PNG.

Rows are the true class, columns the predicted one (argmax of the logits), so row i holds class i's
examples and its diagonal cell over its sum is class i's recall; the trace over the total is top-1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from cnn import data
from cnn.viz.plots import save_png

if TYPE_CHECKING:
    from cnn.train.trained import Trained

_MAX_ANNOTATED = 30  # classes; beyond this the count in each cell is too small to read
_MAX_LABELLED = 60  # classes; beyond this the tick labels overlap


def _counts(model: nn.Module, variables: Any, split: data.RandomAccessSplit, batch_size: int,
            prepare: Callable[[jax.Array], jax.Array]) -> np.ndarray:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if len(split) == 0:
        raise ValueError("no images to count: the set is empty")

    def logits(v, x):
        return model.apply(v, prepare(x), train=False)[0]

    # The class count is read off the model, so a class it never predicts still gets its column.
    k = jax.eval_shape(logits, variables, jax.ShapeDtypeStruct((1, *split.image_shape), jnp.float32)).shape[-1]
    predict = jax.jit(lambda v, x: jnp.argmax(logits(v, x), axis=-1))
    counts = np.zeros(k * k, np.int64)
    for batch in data.eval_batches(split, batch_size):  # the last batch is padded, so one compilation serves all
        keep = batch["mask"] > 0
        labels = np.asarray(batch["label"])[keep].astype(np.int64)
        if labels.min() < 0 or labels.max() >= k:
            raise ValueError(f"labels must lie in [0, {k}) for a model with {k} outputs, got labels from "
                             f"{labels.min()} to {labels.max()}")
        predicted = np.asarray(predict(variables, batch["image"]))[keep]
        counts += np.bincount(labels * k + predicted, minlength=k * k)
    return counts.reshape(k, k)


def confusion_matrix(model: nn.Module, variables: Any, images: np.ndarray, labels: np.ndarray,
                     batch_size: int = 256) -> np.ndarray:
    """(K, K) counts of the `images` (N, H, W, C), as the model takes them, whose true class (row) is `labels`
    (N,) and whose predicted class (column) is the argmax of the model's K logits; jitted, in batches."""
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1D array of class indices, got {labels.dtype} of shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"need one label per image, got {len(images)} images and {len(labels)} labels")
    return _counts(model, variables, data.Split(images, labels), batch_size, lambda x: x)


def trained_confusion(trained: Trained, batch_size: int = 256) -> np.ndarray:
    """The confusion matrix of a finished run (`cnn.train.trained.load_trained`) over its whole test split,
    normalised as the model saw its images in training."""
    from cnn.train.compiled import input_normalizer  # here, not at the top: cnn.train imports cnn.viz

    return _counts(trained.model, trained.variables, trained.dataset.test, batch_size,
                   input_normalizer(trained.dataset))


def class_recall(matrix: np.ndarray) -> np.ndarray:
    """(K,) the fraction of each true class (row) predicted correctly; NaN for a class with no examples."""
    matrix = _check_matrix(matrix)
    totals = matrix.sum(axis=1)
    return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def _check_matrix(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or (matrix < 0).any():
        raise ValueError(f"need a square matrix of counts (true class × predicted class), got shape {matrix.shape}")
    return matrix


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], path: str, title: str = "") -> str:
    """The matrix coloured by the fraction of each true class (row) predicted as each column, with the counts
    written in the cells and each class's recall beside its name; writes a PNG at `path`."""
    matrix = _check_matrix(matrix)
    k = len(matrix)
    if len(class_names) != k:
        raise ValueError(f"need one class name per row of the {k}×{k} matrix, got {len(class_names)}")
    fractions = matrix / np.maximum(matrix.sum(axis=1), 1)[:, None]  # a class with no examples is a row of zeros
    recalls = [f"{100 * r:.0f}%" if np.isfinite(r) else "no examples" for r in class_recall(matrix)]
    side = min(4 + 0.45 * k, 20)
    fig = Figure(figsize=(side + 1.5, side + (0.3 if title else 0)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    if k <= _MAX_ANNOTATED:
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                    color="white" if fractions[i, j] > 0.5 else "black")
    if k <= _MAX_LABELLED:
        ax.set_yticks(range(k), [f"{name} ({recall})" for name, recall in zip(class_names, recalls)], fontsize=7)
        ax.set_xticks(range(k), class_names, fontsize=7, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_ylabel("true class (recall)")
    ax.set_xlabel("predicted class")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    summary = f"top-1 {100 * accuracy:.2f}% of {matrix.sum()} images"
    ax.set_title(f"{title}\n{summary}" if title else summary, fontsize=9)
    return save_png(fig, path)
