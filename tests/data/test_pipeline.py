import itertools

import jax
import numpy as np
import pytest

from cnn.data import Split, eval_batches, steps_per_epoch, train_batches


def _split(n: int) -> Split:
    return Split(images=np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1), labels=np.arange(n, dtype=np.int32))


def test_epoch_is_a_permutation_without_the_ragged_tail():
    split = _split(103)
    epoch = list(itertools.islice(train_batches(split, 10, seed=1), 10))
    seen = np.concatenate([b["label"] for b in epoch])
    assert len(seen) == 100 and len(np.unique(seen)) == 100
    assert all(b["image"].shape == (10, 1, 1, 1) for b in epoch)
    np.testing.assert_array_equal(epoch[0]["image"][:, 0, 0, 0], epoch[0]["label"])


def test_order_depends_on_seed_and_epoch_only():
    split = _split(50)
    run = [b["label"] for b in itertools.islice(train_batches(split, 8, seed=3), 20)]
    resumed = [b["label"] for b in itertools.islice(train_batches(split, 8, seed=3, start_step=13), 7)]
    for a, b in zip(run[13:], resumed):
        np.testing.assert_array_equal(a, b)
    other_seed = next(train_batches(split, 8, seed=4))["label"]
    assert not np.array_equal(run[0], other_seed)
    # Epochs 0 and 1 are shuffled differently.
    assert not np.array_equal(np.concatenate(run[:6]), np.concatenate(run[6:12]))


def test_eval_batches_pad_and_mask_the_last_batch():
    split = _split(23)
    batches = list(eval_batches(split, 10))
    assert [b["image"].shape[0] for b in batches] == [10, 10, 10]
    assert batches[-1]["mask"].tolist() == [1.0] * 3 + [0.0] * 7
    real = np.concatenate([b["label"][b["mask"] > 0] for b in batches])
    np.testing.assert_array_equal(real, np.arange(23))


def test_batch_larger_than_dataset_is_refused():
    with pytest.raises(ValueError, match="batch_size 64 exceeds the 20 training examples"):
        steps_per_epoch(20, 64)


def test_each_process_reads_its_own_rows_of_every_global_batch(monkeypatch):
    split = _split(40)
    whole = [next(train_batches(split, 8, seed=1, start_step=s)) for s in range(3)]
    whole_eval = list(eval_batches(split, 16))
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    parts, eval_parts = [], []
    for index in (0, 1):
        monkeypatch.setattr(jax, "process_index", lambda index=index: index)
        parts.append([next(train_batches(split, 8, seed=1, start_step=s)) for s in range(3)])
        eval_parts.append(list(eval_batches(split, 16)))
    for step in range(3):
        assert len(parts[0][step]["label"]) == len(parts[1][step]["label"]) == 4
        np.testing.assert_array_equal(np.concatenate([parts[0][step]["label"], parts[1][step]["label"]]),
                                      whole[step]["label"])
    for i, batch in enumerate(whole_eval):
        for key in ("label", "mask"):
            np.testing.assert_array_equal(np.concatenate([eval_parts[0][i][key], eval_parts[1][i][key]]), batch[key])
