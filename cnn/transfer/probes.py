"""Linear probes: how linearly separable the classes are in each layer's features.

For every tap of a network, the tap's features on a training set (4-D feature maps global-average-pooled
to one value per channel) train a linear classifier, and its top-1 accuracy on a test set is the layer's
score: the lecture notes' transfer table, one row per layer. Two classifiers are fitted, both on features
standardised with the training set's mean and standard deviation:

- `fit_softmax`: multinomial logistic regression with an L2 penalty on the weights;
- `fit_svm`: one-vs-rest linear SVMs with the squared hinge loss (LinearSVC's default formulation).

Both are minimised full-batch by optax's L-BFGS inside one jitted `lax.while_loop`, in float32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnn.viz.probe import tap_shapes

# Features are zero-padded to a multiple of this width before fitting, so that taps of different widths
# share one compiled solver. A zero column standardises to zero; its weights get no gradient from the loss
# and start at zero, so they stay exactly zero and the solution on the real columns is unchanged.
_FEATURE_BUCKET = 128


# ---------------------------------------------------------------------------------------------- features


@partial(jax.jit, static_argnames=("model", "names"))
def _pooled_taps(model: nn.Module, names: tuple[str, ...], variables: Any, x: jax.Array) -> tuple[jax.Array, ...]:
    """The taps `names` of batch `x`, 4-D ones averaged over H and W, as float32."""
    taps = model.apply(variables, x, train=False)[1]
    return tuple((taps[n].mean(axis=(1, 2)) if taps[n].ndim == 4 else taps[n]).astype(jnp.float32) for n in names)


def tap_features(model: nn.Module, variables: Any, images: np.ndarray, taps: Sequence[str] | None = None,
                 batch_size: int = 256) -> dict[str, np.ndarray]:
    """The features of each tap on `images` (N, H, W, C): {tap: (N, D) float32}, in the model's order.

    `taps` defaults to every tap the model returns. A 4-D tap (N, H, W, C) is global-average-pooled to
    (N, C); a 2-D tap is returned as it is. The images go through in batches of `batch_size`, the last one
    padded to full size so that one program is compiled.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"tap_features needs a non-empty batch of images (N, H, W, C), got shape {images.shape}")
    shapes = tap_shapes(model, variables, images.shape[1:])
    names = tuple(shapes) if taps is None else tuple(taps)
    unknown = [n for n in names if n not in shapes]
    if unknown:
        raise ValueError(f"{type(model).__name__} has no tap {unknown}; its taps are {list(shapes)}")
    bad = [n for n in names if len(shapes[n]) not in (2, 4)]
    if bad:
        raise ValueError(f"taps {bad} are neither (N, D) nor (N, H, W, C) ({[shapes[n] for n in bad]}); "
                         "probe a tap of one of those ranks")
    size = max(1, min(batch_size, len(images)))
    chunks: list[tuple[np.ndarray, ...]] = []
    for start in range(0, len(images), size):
        batch = images[start:start + size]
        real = len(batch)
        if real < size:
            batch = np.concatenate([batch, np.zeros((size - real, *batch.shape[1:]), batch.dtype)])
        chunks.append(tuple(np.asarray(f)[:real] for f in _pooled_taps(model, names, variables, batch)))
    return {n: np.concatenate([c[i] for c in chunks]) for i, n in enumerate(names)}


# ------------------------------------------------------------------------------------------- classifier


@dataclass
class LinearClassifier:
    """scores = ((features − mean) / std) @ weights + bias; the predicted class is the highest score.

    weights (D, K), bias (K,), mean and std (D,) the training features' statistics (std 1 for constant
    features). `iterations` and `grad_norm` report how the solver ended (the objective's gradient norm).
    """

    weights: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    iterations: int = 0
    grad_norm: float = float("nan")

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(N, K) class scores of (N, D) raw (unstandardised) features."""
        features = np.asarray(features, np.float32)
        if features.ndim != 2 or features.shape[1] != len(self.mean):
            raise ValueError(f"the classifier was fitted on {len(self.mean)} features per example, "
                             f"got shape {features.shape}; pass (N, {len(self.mean)}) features")
        return ((features - self.mean) / self.std) @ self.weights + self.bias

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The predicted labels (N,) of (N, D) raw features."""
        return np.argmax(self.scores(features), axis=1)


def _standardise(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z-scored features, mean, std): statistics in float64 for accuracy; a constant feature gets std 1."""
    x = np.asarray(features, np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    return ((x - mean) / std).astype(np.float32), mean.astype(np.float32), std.astype(np.float32)


def _check_problem(features: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    features, labels = np.asarray(features), np.asarray(labels)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"features must be a non-empty (N, D) array, got shape {features.shape}")
    if labels.shape != (len(features),):
        raise ValueError(f"labels must be ({len(features)},), one per feature row, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must be integers in [0, {num_classes}), got {labels.dtype} in "
                         f"[{labels.min()}, {labels.max()}]; pass num_classes larger than the largest label")
    return features, labels


# --------------------------------------------------------------------------------------------- objectives


def _softmax_objective(params: dict[str, jax.Array], x: jax.Array, onehot: jax.Array, l2: jax.Array) -> jax.Array:
    logits = x @ params["w"] + params["b"]
    cross_entropy = jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.sum(onehot * logits, axis=1))
    return cross_entropy + 0.5 * l2 * jnp.sum(params["w"] ** 2)


def _svm_objective(params: dict[str, jax.Array], x: jax.Array, onehot: jax.Array, c: jax.Array) -> jax.Array:
    # Σ_k [0.5‖w_k‖² + C Σ_i hinge_ik²] divided by C·n: the same minimiser, with a gradient of order 1
    # whatever C and n, so that one tolerance suits every problem.
    signs = 2.0 * onehot - 1.0
    hinge = jnp.maximum(0.0, 1.0 - signs * (x @ params["w"] + params["b"]))
    return jnp.mean(jnp.sum(hinge**2, axis=1)) + 0.5 * jnp.sum(params["w"] ** 2) / (c * x.shape[0])


@partial(jax.jit, static_argnames=("objective",))
def _lbfgs(objective: Callable, params: dict[str, jax.Array], x: jax.Array, onehot: jax.Array,
           strength: jax.Array, max_iter: jax.Array, tol: jax.Array):
    """Minimises objective(params, x, onehot, strength) by L-BFGS until ‖gradient‖ < tol or max_iter steps."""

    def value_fn(p):
        return objective(p, x, onehot, strength)

    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(value_fn)

    def step(carry):
        p, state = carry
        value, grad = value_and_grad(p, state=state)
        updates, state = solver.update(grad, state, p, value=value, grad=grad, value_fn=value_fn)
        return optax.apply_updates(p, updates), state

    def going(carry):
        _, state = carry
        count = optax.tree.get(state, "count")
        grad_norm = optax.tree.norm(optax.tree.get(state, "grad"))
        # Stop also if the line search has produced a non-finite gradient, rather than loop on NaN.
        return (count == 0) | ((count < max_iter) & (grad_norm >= tol) & jnp.isfinite(grad_norm))

    params, state = jax.lax.while_loop(going, step, (params, solver.init(params)))
    grad_norm = optax.tree.norm(jax.grad(value_fn)(params))
    return params, optax.tree.get(state, "count"), grad_norm


def _fit(objective: Callable, features: np.ndarray, labels: np.ndarray, num_classes: int, strength: float,
         max_iter: int, tol: float) -> LinearClassifier:
    features, labels = _check_problem(features, labels, num_classes)
    x, mean, std = _standardise(features)
    dim = x.shape[1]
    padded = -(-dim // _FEATURE_BUCKET) * _FEATURE_BUCKET
    x = np.pad(x, ((0, 0), (0, padded - dim)))
    onehot = np.eye(num_classes, dtype=np.float32)[labels]
    start = {"w": jnp.zeros((padded, num_classes), jnp.float32), "b": jnp.zeros((num_classes,), jnp.float32)}
    params, count, grad_norm = _lbfgs(objective, start, x, onehot, jnp.float32(strength), jnp.int32(max_iter),
                                      jnp.float32(tol))
    weights = np.asarray(params["w"])[:dim]
    bias = np.asarray(params["b"])
    if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(bias))):
        raise FloatingPointError("the linear probe's solver diverged (non-finite weights); check the features "
                                 "for NaN or inf, or raise the regularisation")
    return LinearClassifier(weights, bias, mean, std, int(count), float(grad_norm))


def fit_softmax(features: np.ndarray, labels: np.ndarray, num_classes: int, l2: float = 1e-3,
                max_iter: int = 500, tol: float = 1e-5) -> LinearClassifier:
    """Multinomial logistic regression on the standardised (N, D) `features`.

    Minimises (1/N) Σ_i CE(softmax(W·z_i + b), y_i) + (l2/2)·‖W‖², z_i the z-scored features (training
    mean and std, constant features std 1), W (D, K), the bias b unregularised. The cross-entropy is
    unchanged by adding one constant to every class's bias, so b is unique only up to that shift; the solver
    starts at zero and its steps keep Σ_k b_k = 0, which is returned. This is sklearn's
    LogisticRegression (multinomial, l2 penalty) with C = 1 / (l2·N). Full-batch L-BFGS stops when the
    objective's gradient norm falls below `tol` or after `max_iter` iterations.
    """
    if l2 <= 0:
        raise ValueError(f"l2 must be positive (it makes the solution unique and finite on separable data), got {l2}")
    return _fit(_softmax_objective, features, labels, num_classes, l2, max_iter, tol)


def fit_svm(features: np.ndarray, labels: np.ndarray, num_classes: int, c: float = 1.0,
            max_iter: int = 500, tol: float = 1e-5) -> LinearClassifier:
    """One-vs-rest linear SVMs with the squared hinge loss on the standardised (N, D) `features`.

    For each class k, with y_ik = +1 if label_i = k else −1 and z_i the z-scored features (as in
    `fit_softmax`), minimises

        0.5·‖w_k‖² + C·Σ_i max(0, 1 − y_ik·(w_k·z_i + b_k))²

    with the bias b_k unregularised. The K problems are independent, so their sum is minimised at once by
    L-BFGS (the squared hinge is differentiable), scaled by 1/(C·N), which leaves the minimiser unchanged;
    `tol` applies to the gradient norm of that scaled sum. The predicted class is argmax_k (w_k·z + b_k).

    This is sklearn's LinearSVC (loss="squared_hinge", penalty="l2", multi_class="ovr") except for the
    bias: LinearSVC appends a constant column `intercept_scaling` to the features and regularises its
    weight, i.e. adds 0.5·(b_k / intercept_scaling)² to the objective; with a large intercept_scaling the
    two objectives coincide.
    """
    if c <= 0:
        raise ValueError(f"c must be positive (it weighs the hinge loss against the penalty), got {c}")
    return _fit(_svm_objective, features, labels, num_classes, c, max_iter, tol)


# ------------------------------------------------------------------------------------------------- probes


@dataclass
class ProbeResult:
    """One layer's row: its tap, feature width and the two probes' top-1 accuracy on the test set (0 to 1)."""

    tap: str
    dim: int
    softmax_top1: float
    svm_top1: float


def linear_probes(model: nn.Module, variables: Any, train_images: np.ndarray, train_labels: np.ndarray,
                  test_images: np.ndarray, test_labels: np.ndarray, num_classes: int,
                  taps: Sequence[str] | None = None, l2: float = 1e-3, c: float = 1.0) -> list[ProbeResult]:
    """For each tap (default: all, in the model's order), a softmax and a linear SVM probe fitted on the
    training images' features and scored on the test images'; one ProbeResult per tap, in that order."""
    train = tap_features(model, variables, train_images, taps)
    test = tap_features(model, variables, test_images, taps)
    test_labels = np.asarray(test_labels)
    results = []
    for name, features in train.items():
        softmax = fit_softmax(features, train_labels, num_classes, l2=l2)
        svm = fit_svm(features, train_labels, num_classes, c=c)
        results.append(ProbeResult(
            tap=name, dim=features.shape[1],
            softmax_top1=float(np.mean(softmax.predict(test[name]) == test_labels)),
            svm_top1=float(np.mean(svm.predict(test[name]) == test_labels)),
        ))
    return results


def format_probe_table(results: Sequence[ProbeResult], title: str) -> str:
    """A Markdown table under the heading `title`: tap | features | softmax top-1 | linear SVM top-1, in %."""
    lines = [f"### {title}", "", "| tap | features | softmax top-1 | linear SVM top-1 |", "|---|---:|---:|---:|"]
    lines += [f"| {r.tap} | {r.dim} | {100 * r.softmax_top1:.1f}% | {100 * r.svm_top1:.1f}% |" for r in results]
    return "\n".join(lines) + "\n"
