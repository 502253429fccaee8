"""config.nonfinite: "stop" ends a run at a NaN/inf loss (tests/train/test_loop.py), "skip" drops the update."""

import dataclasses

import flax.linen as nn
import jax
import ml_collections
import numpy as np
import optax
import pytest

import cnn.train.run
from cnn.config import ConfigError
from cnn.train import NonFiniteLossError, build_optimizer, create_train_state, train_and_evaluate, train_step
from cnn.train.metrics import read_metrics
from cnn.train.optim import MAX_CONSECUTIVE_SKIPS
from tests.tiny_runs import tiny_config

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("persistent_compilation_cache")]  # runs share programs

LR = 0.1
ADAM = ml_collections.ConfigDict(dict(name="adam", b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0))


class _Tiny(nn.Module):
    """A BatchNorm and a linear classifier: running statistics that a NaN batch would poison."""

    @nn.compact
    def __call__(self, x, train: bool):
        x = nn.BatchNorm(use_running_average=not train, momentum=0.5)(x.reshape((x.shape[0], -1)))
        return nn.Dense(3)(x), {}


def _batches():
    rng = np.random.default_rng(0)
    good = {"image": rng.normal(size=(8, 4, 4, 1)).astype(np.float32), "label": rng.integers(0, 3, 8)}
    bad_images = good["image"].copy()
    bad_images[3, 1, 2, 0] = np.nan  # one pixel of one example: its loss, and so the batch's gradients, are NaN
    return good, {**good, "image": bad_images}


def _state(nonfinite: str):
    tx = build_optimizer(ADAM, optax.constant_schedule(LR), nonfinite)
    return create_train_state(_Tiny(), tx, jax.random.key(0), (4, 4, 1))


_jitted_step = jax.jit(train_step)


def _step(state, batch):
    return _jitted_step(state, batch, jax.random.key(1))


def _assert_trees_equal(a, b):
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_a_skipped_update_leaves_the_state_and_the_next_update_is_adams_first_step():
    good, bad = _batches()
    start = _state("skip")
    skipped, metrics = _step(start, bad)
    assert not np.isfinite(float(metrics["loss"])) and int(metrics["skipped_updates"]) == 1
    _assert_trees_equal(skipped.params, start.params)
    _assert_trees_equal(skipped.batch_stats, start.batch_stats)
    _assert_trees_equal(skipped.opt_state.inner_state, start.opt_state.inner_state)  # Adam's moments and count
    assert int(skipped.opt_state.total_notfinite) == 1

    applied, metrics = _step(skipped, good)
    assert int(metrics["skipped_updates"]) == 0

    # The expectation, by flax and optax alone: plain cross-entropy, and optax.adam's first step from its init.
    def loss(params):
        (logits, _), updates = _Tiny().apply({"params": params, "batch_stats": start.batch_stats}, good["image"],
                                             train=True, mutable=["batch_stats"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, good["label"]).mean(), updates

    grads, updates = jax.grad(loss, has_aux=True)(start.params)
    adam = optax.adam(LR)
    step, _ = adam.update(grads, adam.init(start.params), start.params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                 applied.params, optax.apply_updates(start.params, step))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), applied.batch_stats,
                 updates["batch_stats"])


def test_without_skipping_the_same_batch_breaks_the_parameters_and_no_skips_are_counted():
    _, bad = _batches()
    state, metrics = _step(_state("stop"), bad)
    assert "skipped_updates" not in metrics
    assert not all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(state.params))


def test_skipping_gives_up_after_the_bound_and_applies_the_update():
    _, bad = _batches()
    state = _state("skip")
    for _ in range(MAX_CONSECUTIVE_SKIPS):
        state, _ = _step(state, bad)
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(state.params))
    state, _ = _step(state, bad)
    assert not all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(state.params))


def test_an_unknown_mode_names_the_key_and_the_valid_values():
    with pytest.raises(ConfigError, match=r"config\.nonfinite: unknown nonfinite mode 'skp'\. Did you mean 'skip'\?"
                                          r".*skip, stop"):
        build_optimizer(ADAM, optax.constant_schedule(LR), "skp")


@pytest.fixture
def nan_images(monkeypatch):
    """`nan_images(index)` turns the train images at `index` NaN, as a corrupt file would."""
    load = cnn.train.run.load_dataset
    chosen = []

    def poisoned(dataset_config):
        dataset = load(dataset_config)
        images = dataset.train.images.copy()
        for index in chosen:
            images[index] = np.nan
        return dataclasses.replace(dataset, train=dataclasses.replace(dataset.train, images=images))

    monkeypatch.setattr(cnn.train.run, "load_dataset", poisoned)
    return chosen.append


def test_a_skipping_run_drops_the_bad_batches_and_counts_them(tmp_path, tiny_data_dir, nan_images):
    nan_images(5)  # one batch per epoch of 6 steps holds it: 2 of 12 updates are dropped
    config = tiny_config(tiny_data_dir)
    config.nonfinite = "skip"
    result = train_and_evaluate(config, str(tmp_path))
    assert all(np.isfinite(v) for v in result.values())
    train = [r for r in read_metrics(str(tmp_path)) if r["split"] == "train"]
    assert sum(r["skipped_updates"] for r in train) == 2  # each line counts those since the previous one
    assert all(np.isfinite(r["loss"]) == (r["skipped_updates"] == 0) for r in train)


def test_a_skipping_run_still_stops_when_the_bad_updates_go_on(tmp_path, tiny_data_dir, nan_images):
    nan_images(slice(None))  # every batch: the update after MAX_CONSECUTIVE_SKIPS skips is applied
    config = tiny_config(tiny_data_dir, num_train_steps=2 * MAX_CONSECUTIVE_SKIPS)
    config.nonfinite = "skip"
    with pytest.raises(NonFiniteLossError, match=f"state is no longer finite at step {MAX_CONSECUTIVE_SKIPS + 2}"):
        train_and_evaluate(config, str(tmp_path))
    train = [r for r in read_metrics(str(tmp_path)) if r["split"] == "train"]
    # log_every_steps 2: every window skipped both its updates, the one the run stopped in included
    assert [r["skipped_updates"] for r in train] == [2] * (MAX_CONSECUTIVE_SKIPS // 2 + 1)
