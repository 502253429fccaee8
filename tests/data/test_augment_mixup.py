"""Mixup: λ and the pairing recovered from the mixed one-hot targets, images and loss checked with numpy.

With distinct labels, row i of the mixed targets holds λ at its own label and 1 − λ at the label of
the example it was paired with, so the draw can be read off the output rather than recomputed.
"""

import math

import jax
import ml_collections
import numpy as np
import optax
import pytest
import scipy.special
import scipy.stats
from flax import linen as nn

from cnn.config import ConfigError
from cnn.data import Dataset, Split
from cnn.data import augment as aug
from cnn.data.mixup import mixup
from cnn.train import create_train_state, train_and_evaluate, train_step
from cnn.train.compiled import train_input
from cnn.train.metrics import read_metrics
from tests.tiny_runs import tiny_config


def _images(n: int, h: int = 4, w: int = 5, c: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, h, w, c)).astype(np.float32)


def _recover(targets: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """(λ, π) from targets λ·onehot(labels) + (1 − λ)·onehot(labels[π]), the labels distinct."""
    n = len(labels)
    others = targets.copy()
    others[np.arange(n), labels] = 0
    partner_label = others.argmax(axis=1)
    moved = others.max(axis=1) > 1e-6
    index = {label: i for i, label in enumerate(labels)}
    perm = np.array([index[partner] if m else i for i, (partner, m) in enumerate(zip(partner_label, moved))])
    assert moved.any(), "the permutation left every example in place"
    lams = targets[np.arange(n), labels][moved]
    np.testing.assert_allclose(lams, lams[0], atol=1e-6)  # one λ for the batch
    np.testing.assert_allclose(targets.sum(axis=1), 1, atol=1e-6)
    return float(lams[0]), perm


def test_mixup_mixes_images_like_the_targets_with_one_beta_lambda_per_batch():
    images, labels = _images(8), np.arange(8)
    out, targets = mixup(jax.random.key(0), images, np.eye(8, dtype=np.float32), 0.4)
    lam, perm = _recover(np.asarray(targets), labels)
    assert sorted(perm) == list(range(8))
    np.testing.assert_allclose(out, lam * images + (1 - lam) * images[perm], rtol=0, atol=1e-6)


def test_mixup_lambda_follows_beta_alpha_alpha():
    alpha, images = 0.4, _images(8, 1, 1, 1)
    mix = jax.jit(jax.vmap(lambda k: mixup(k, images, np.eye(8, dtype=np.float32), alpha)[1]))
    targets = np.asarray(mix(jax.random.split(jax.random.key(1), 400)))
    lams = targets[:, np.arange(8), np.arange(8)].min(axis=1)  # rows paired with another example hold λ
    assert scipy.stats.kstest(lams, scipy.stats.beta(alpha, alpha).cdf).pvalue > 0.01


def _config(**kwargs) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"crop_padding": 0, "flip": False, "cutout": 0, "mixup": 0.0, **kwargs})


def test_augment_mixes_last_after_cutout_with_their_own_keys():
    images, labels, key = _images(8, 6, 6), np.arange(8), aug.augmentation_key(0, 3)
    cut = np.asarray(aug.augment(key, images, _config(flip=True, cutout=3)))
    out, targets = aug.augment(key, images, _config(flip=True, cutout=3, mixup=1.0), targets=np.eye(8, dtype=np.float32))
    lam, perm = _recover(np.asarray(targets), labels)
    np.testing.assert_allclose(out, lam * cut + (1 - lam) * cut[perm], rtol=0, atol=1e-6)

    again = aug.augment(key, images, _config(flip=True, cutout=3, mixup=1.0), targets=np.eye(8, dtype=np.float32))
    np.testing.assert_array_equal(again[0], out)
    later = aug.augment(aug.augmentation_key(0, 4), images, _config(mixup=1.0), targets=np.eye(8, dtype=np.float32))
    assert not np.array_equal(later[1], targets)
    plain = aug.augment(key, images, _config(flip=True), targets=labels)
    np.testing.assert_array_equal(plain[1], labels)  # mixup off: the targets pass through as given


class _TwoHeads(nn.Module):
    """A linear classifier with an auxiliary linear head in training, as GoogLeNet has (small, so cheap)."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = x.reshape(len(x), -1)
        logits, aux = nn.Dense(10)(x), nn.Dense(10)(x)  # both made at init, which runs with train=False
        return logits, ({"aux_logits": (aux,)} if train else {})


def _dataset() -> Dataset:
    dummy = Split(np.zeros((1, 6, 6, 1), np.uint8), np.zeros(1, np.int32))
    return Dataset("dummy", dummy, dummy, 10, tuple(map(str, range(10))), (0.3,), (0.2,))


def _step_config(**augment) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"seed": 0, "augment": _config(**augment)})


def _soft_cross_entropy(logits, targets: np.ndarray) -> float:
    return float(-(targets * scipy.special.log_softmax(np.asarray(logits, np.float64), axis=1)).sum(axis=1).mean())


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_mixup_train_step_minimises_soft_cross_entropy_and_counts_top1_on_own_labels(smoothing):
    state = create_train_state(_TwoHeads(), optax.sgd(0.1), jax.random.key(0), (6, 6, 1))
    rng = np.random.default_rng(0)
    labels = rng.permutation(10)[:8].astype(np.int32)
    batch = {"image": rng.integers(0, 256, (8, 6, 6, 1)).astype(np.uint8), "label": labels}
    prepare = train_input(_step_config(mixup=0.5), _dataset())
    _, targets = prepare(batch["image"], state.step, labels)
    lam, perm = _recover(np.asarray(targets), labels)
    x = (batch["image"] / 255.0 - 0.3) / 0.2
    mixed = (lam * x + (1 - lam) * x[perm]).astype(np.float32)
    logits, taps = state.apply_fn({"params": state.params}, mixed, train=True)
    soft = lam * np.eye(10)[labels] + (1 - lam) * np.eye(10)[labels[perm]]
    soft = (1 - smoothing) * soft + smoothing / 10  # smoothing the mix: mixing the smoothed one-hot labels
    main, aux = _soft_cross_entropy(logits, soft), _soft_cross_entropy(taps["aux_logits"][0], soft)
    _, metrics = train_step(state, batch, jax.random.key(1), prepare=prepare, label_smoothing=smoothing,
                            aux_loss_weight=0.3)
    assert float(metrics["loss"]) == pytest.approx(main + 0.3 * aux, rel=1e-5)
    assert float(metrics["aux_loss"]) == pytest.approx(aux, rel=1e-5)
    assert float(metrics["top1"]) == pytest.approx(np.mean(np.argmax(logits, axis=1) == labels))


def test_mixup_off_keeps_integer_labels_and_needs_targets_when_on():
    images, labels = np.zeros((2, 6, 6, 1), np.uint8), np.array([3, 1], np.int32)
    _, targets = train_input(_step_config(flip=True), _dataset())(images, 0, labels)
    np.testing.assert_array_equal(targets, labels)
    with pytest.raises(ValueError, match=r"config\.augment\.mixup mixes the targets .* pass targets="):
        aug.augment(jax.random.key(0), _images(2), _config(mixup=0.2))


@pytest.mark.parametrize("value", [-0.2, math.nan, math.inf])
def test_bad_mixup_values_name_the_key_and_range(value):
    with pytest.raises(ConfigError, match=rf"config\.augment\.mixup {value!r} must be a finite number >= 0"):
        train_input(_step_config(mixup=value), _dataset())


def test_a_tiny_run_with_every_new_augmentation_trains_to_finite_metrics(tmp_path, tiny_data_dir):
    config = tiny_config(tiny_data_dir, num_train_steps=4, eval_every_steps=4, checkpoint_every_steps=4,
                         log_every_steps=2, label_smoothing=0.1)
    config.augment.update({"crop_padding": 2, "flip": True, "rotate": 15.0, "brightness": 0.1, "contrast": 0.2,
                           "pca_lighting": 0.1, "cutout": 8, "mixup": 0.2})
    result = train_and_evaluate(config, str(tmp_path / "run"))
    train = [r for r in read_metrics(str(tmp_path / "run")) if r.get("split") == "train"]
    assert [r["step"] for r in train] == [2, 4]
    for value in [*result.values(), *(r["loss"] for r in train), *(r["top1"] for r in train)]:
        assert math.isfinite(value)
