import os

import jax
import numpy as np
import optax
import pytest

from cnn.models import create
from cnn.train.checkpoint import Checkpointer, CheckpointError
from cnn.train.state import create_train_state
from cnn.train.steps import train_step


def _state(seed):
    tx = optax.sgd(0.1, momentum=0.9)
    return create_train_state(create("lenet5", num_classes=10), tx, jax.random.key(seed), (28, 28, 1))


def _trained_state():
    state = _state(0)
    rng = np.random.default_rng(0)
    batch = {"image": rng.normal(size=(8, 28, 28, 1)).astype(np.float32), "label": rng.integers(0, 10, 8)}
    for _ in range(3):  # so that the momentum buffers are not zero
        state, _ = train_step(state, batch, jax.random.key(1))
    return state


def _leaves_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(
        np.asarray(x).dtype == np.asarray(y).dtype and np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(la, lb))


def test_save_then_restore_gives_a_bit_identical_train_state(tmp_path):
    state = _trained_state()
    checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=2)
    checkpointer.save(3, state, force=True)
    checkpointer.close()
    fresh = _state(seed=7)  # different values, same structure
    assert not _leaves_equal(fresh.params, state.params)
    checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=2)
    restored = checkpointer.restore_latest(fresh)
    checkpointer.close()
    assert int(restored.step) == 3
    for field in ("params", "opt_state", "batch_stats"):
        assert _leaves_equal(getattr(restored, field), getattr(state, field)), field


def test_resolve_names_latest_best_and_steps_and_explains_what_is_missing(tmp_path):
    state = _state(0)
    checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=5)
    with pytest.raises(CheckpointError, match="no checkpoints in .*train first"):
        checkpointer.resolve("latest")
    checkpointer.save(1, state, force=True)
    with pytest.raises(CheckpointError, match="none is best"):
        checkpointer.resolve("best")
    checkpointer.save(2, state.replace(step=2), metrics={"top1": 0.7}, force=True)
    checkpointer.save(3, state.replace(step=3), metrics={"top1": 0.6}, force=True)
    checkpointer.save(4, state.replace(step=4), force=True)
    assert [checkpointer.resolve(w) for w in ("latest", "best", "3")] == [4, 2, 3]
    with pytest.raises(CheckpointError, match=r"no checkpoint '9'.*\[1, 2, 3, 4\]"):
        checkpointer.resolve("9")
    checkpointer.close()


def test_checkpoints_at_keep_steps_are_saved_off_the_interval_and_outlive_the_latest_n(tmp_path):
    state = _state(0)
    checkpointer = Checkpointer(str(tmp_path), every_steps=4, keep=2, keep_best=0, keep_steps=[3, 8])
    for step in range(1, 21):
        if checkpointer.should_save(step):
            checkpointer.save(step, state.replace(step=step))
    checkpointer.close()
    assert Checkpointer(str(tmp_path), every_steps=4, keep=2).steps() == [3, 8, 16, 20]


def test_no_checkpoints_means_the_fresh_state_is_kept(tmp_path):
    state = _state(0)
    checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=1)
    assert checkpointer.restore_latest(state) is state
    checkpointer.close()
    assert os.listdir(tmp_path / "checkpoints") == []


def test_a_truncated_checkpoint_raises_a_checkpoint_error_naming_it(tmp_path):
    state = _trained_state()
    checkpointer = Checkpointer(str(tmp_path), every_steps=1, keep=2)
    checkpointer.save(3, state, force=True)
    checkpointer.wait()
    files = [os.path.join(d, f) for d, _, names in os.walk(tmp_path / "checkpoints" / "3") for f in names]
    largest = max(files, key=os.path.getsize)
    with open(largest, "r+b") as f:
        f.truncate(os.path.getsize(largest) // 2)
    with pytest.raises(CheckpointError, match=r"checkpoint 3 in .*checkpoints cannot be restored \(\w+"):
        checkpointer.restore(_state(0), 3)
    checkpointer.close()
