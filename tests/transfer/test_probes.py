"""Linear probes: the solvers against sklearn's on the digits set, the features against the model's own
taps, chance-level accuracy on uninformative features, and the table."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

import cnn.models
from cnn.transfer.probes import (
    LinearClassifier,
    ProbeResult,
    fit_softmax,
    fit_svm,
    format_probe_table,
    linear_probes,
    tap_features,
)
from cnn.viz.probe import tap_shapes

NUM_CLASSES = 10


@pytest.fixture(scope="module")
def digits():
    """sklearn's 8×8 digits (64 pixel features, 1,797 images) shuffled and split in halves."""
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    half = len(y) // 2
    return x[:half], y[:half], x[half:], y[half:]


def zscore(train, test):
    """Independent of the module's: z-scores with the training statistics, constant columns std 1."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1
    return (train - mean) / std, (test - mean) / std


def softmax_objective(w, b, z, y, l2):
    logits = z @ w + b
    return np.mean(logsumexp(logits, axis=1) - logits[np.arange(len(y)), y]) + 0.5 * l2 * np.sum(w**2)


def svm_objective(w, b, z, y, c):
    """Σ_k 0.5‖w_k‖² + C Σ_i max(0, 1 − y_ik (w_k·z_i + b_k))², y_ik = ±1, bias unregularised."""
    signs = np.where(y[:, None] == np.arange(w.shape[1]), 1.0, -1.0)
    hinge = np.maximum(0, 1 - signs * (z @ w + b))
    return 0.5 * np.sum(w**2) + c * np.sum(hinge**2)


# ------------------------------------------------------------------------------------------ the solvers


def test_fit_softmax_matches_sklearn_logistic_regression(digits):
    x_train, y_train, x_test, _ = digits
    z_train, z_test = zscore(x_train, x_test)
    l2 = 1e-3
    ours = fit_softmax(x_train, y_train, NUM_CLASSES, l2=l2)
    # sklearn minimises C Σ_i CE + 0.5‖W‖², i.e. N·C times ours when C = 1 / (l2·N).
    reference = LogisticRegression(C=1 / (l2 * len(y_train)), l1_ratio=0, tol=1e-10, max_iter=10_000)
    reference.fit(z_train, y_train)
    w_ref = reference.coef_.T
    b_ref = reference.intercept_ - reference.intercept_.mean()  # the bias is unique up to a common shift

    scale = np.abs(w_ref).max()
    np.testing.assert_allclose(ours.weights, w_ref, atol=1e-3 * scale)
    np.testing.assert_allclose(ours.bias - ours.bias.mean(), b_ref, atol=1e-2 * max(1.0, np.abs(b_ref).max()))
    agreement = np.mean(ours.predict(x_test) == reference.predict(z_test))
    assert agreement >= 0.99
    ours_value = softmax_objective(ours.weights.astype(np.float64), ours.bias, z_train, y_train, l2)
    assert ours_value <= softmax_objective(w_ref, reference.intercept_, z_train, y_train, l2) + 1e-5
    assert ours.grad_norm < 1e-4 and ours.iterations < 500


def test_fit_svm_matches_sklearn_linear_svc(digits):
    x_train, y_train, x_test, _ = digits
    z_train, z_test = zscore(x_train, x_test)
    c = 1.0
    ours = fit_svm(x_train, y_train, NUM_CLASSES, c=c)
    # LinearSVC penalises 0.5 (b_k / intercept_scaling)² as well; at 100 that term is below 1e-3 of a
    # unit bias, so both minimise (nearly) the same objective. The primal solver handles the scaled column.
    reference = LinearSVC(C=c, intercept_scaling=100, dual=False, tol=1e-8, max_iter=100_000)
    reference.fit(z_train, y_train)
    w_ref, b_ref = reference.coef_.T, reference.intercept_

    np.testing.assert_allclose(ours.weights, w_ref, atol=1e-2 * np.abs(w_ref).max())
    np.testing.assert_allclose(ours.bias, b_ref, atol=1e-2 * max(1.0, np.abs(b_ref).max()))
    agreement = np.mean(ours.predict(x_test) == reference.predict(z_test))
    assert agreement >= 0.98
    # Our objective (unregularised bias) at our solution is no worse than at LinearSVC's, up to float32.
    ours_value = svm_objective(ours.weights.astype(np.float64), ours.bias, z_train, y_train, c)
    reference_value = svm_objective(w_ref, b_ref, z_train, y_train, c)
    assert ours_value <= reference_value * (1 + 1e-5)


def test_constant_features_get_unit_std_and_no_weight(digits):
    x_train, y_train, _, _ = digits
    constant = x_train.std(axis=0) == 0
    assert constant.any()  # the digits' corner pixels are always blank
    for clf in (fit_softmax(x_train, y_train, NUM_CLASSES), fit_svm(x_train, y_train, NUM_CLASSES)):
        assert isinstance(clf, LinearClassifier)
        np.testing.assert_array_equal(clf.std[constant], 1)
        np.testing.assert_array_equal(clf.weights[constant], 0)
        assert clf.weights.shape == (64, NUM_CLASSES) and clf.bias.shape == (NUM_CLASSES,)


def test_informative_features_score_well_above_chance(digits):
    x_train, y_train, x_test, y_test = digits
    assert np.mean(fit_softmax(x_train, y_train, NUM_CLASSES).predict(x_test) == y_test) > 0.9
    assert np.mean(fit_svm(x_train, y_train, NUM_CLASSES).predict(x_test) == y_test) > 0.9


def test_uninformative_features_score_at_chance(digits):
    _, y_train, _, y_test = digits
    rng = np.random.default_rng(1)
    noise_train = rng.normal(size=(len(y_train), 64)).astype(np.float32)
    noise_test = rng.normal(size=(len(y_test), 64)).astype(np.float32)
    chance = np.max(np.bincount(y_test)) / len(y_test)  # ≈ 0.1: the classes are balanced
    sigma = np.sqrt(0.1 * 0.9 / len(y_test))
    for fit in (fit_softmax, fit_svm):
        clf = fit(noise_train, y_train, NUM_CLASSES)
        # The probe can fit the noise it was trained on, and that tells nothing about unseen examples.
        assert np.mean(clf.predict(noise_train) == y_train) > 0.3
        held_out = np.mean(clf.predict(noise_test) == y_test)
        assert abs(held_out - 0.1) < 4 * sigma, (fit.__name__, held_out, chance)


def test_bad_labels_and_features_are_rejected(digits):
    x_train, y_train, _, _ = digits
    with pytest.raises(ValueError, match="num_classes"):
        fit_softmax(x_train, y_train, num_classes=5)
    with pytest.raises(ValueError, match="one per feature row"):
        fit_svm(x_train, y_train[:-1], NUM_CLASSES)
    clf = fit_softmax(x_train, y_train, NUM_CLASSES, max_iter=5)  # compiled already
    with pytest.raises(ValueError, match="64 features"):
        clf.predict(x_train[:3, :10])


# ---------------------------------------------------------------------------------------------- features


@pytest.fixture(scope="module")
def lenet():
    return cnn.models.initialized("lenet5")


def test_tap_features_pool_the_model_taps_in_order(lenet):
    model, variables = lenet
    images = np.random.default_rng(2).normal(size=(20, 28, 28, 1)).astype(np.float32)
    features = tap_features(model, variables, images, batch_size=7)  # batches of 7, 7, 6 (padded)
    taps = model.apply(variables, images, train=False)[1]

    assert list(features) == ["c1", "s2", "c3", "s4", "c5", "f6"]
    for name, value in features.items():
        tap = np.asarray(taps[name])
        expected = tap.mean(axis=(1, 2)) if tap.ndim == 4 else tap
        assert value.dtype == np.float32 and value.shape == expected.shape
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5)
    one_batch = tap_features(model, variables, images, taps=["f6", "c3"])
    assert list(one_batch) == ["f6", "c3"]
    np.testing.assert_allclose(one_batch["c3"], features["c3"], rtol=1e-5, atol=1e-6)


def test_unknown_tap_names_the_model_taps(lenet):
    model, variables = lenet
    with pytest.raises(ValueError, match=r"no tap \['c7'\].*'c1', 's2'"):
        tap_features(model, variables, np.zeros((2, 28, 28, 1), np.float32), taps=["c1", "c7"])


# ---------------------------------------------------------------------------------------- probes, table


def test_linear_probes_on_lenet_taps_over_digits(lenet, digits):
    model, variables = lenet
    x_train, y_train, x_test, y_test = digits

    def to_28(x):  # 8×8 → 24×24 by pixel repetition, then a 2-pixel border, as MNIST's
        return np.pad(np.kron(x.reshape(-1, 8, 8) / 16, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2)))[..., None]

    results = linear_probes(model, variables, to_28(x_train), y_train, to_28(x_test), y_test, NUM_CLASSES)
    shapes = tap_shapes(model, variables, (28, 28, 1))
    assert [r.tap for r in results] == list(shapes)
    assert [r.dim for r in results] == [s[-1] for s in shapes.values()]
    for r in results:
        assert 0 <= r.softmax_top1 <= 1 and 0 <= r.svm_top1 <= 1
    # Even a random LeNet-5's deep features separate the digits far better than chance.
    best = max(results, key=lambda r: r.softmax_top1)
    assert best.softmax_top1 > 0.6 and best.svm_top1 > 0.6


def test_format_probe_table_round_trips():
    results = [ProbeResult("c1", 6, 0.5449, 0.553), ProbeResult("f6", 84, 0.9999, 1.0)]
    table = format_probe_table(results, "LeNet-5 on digits")
    assert "LeNet-5 on digits" in table.splitlines()[0]
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert [cell.strip() for cell in rows[0].strip("|").split("|")] == [
        "tap", "features", "softmax top-1", "linear SVM top-1"]
    body = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]
    assert len(body) == 2
    parsed = [(tap, int(dim), float(re.sub("%", "", a)), float(re.sub("%", "", b))) for tap, dim, a, b in body]
    assert parsed == [("c1", 6, 54.5, 55.3), ("f6", 84, 100.0, 100.0)]
