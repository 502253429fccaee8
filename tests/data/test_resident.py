"""In-memory splits live on the devices once; their batches are the host split's, and so is a run on them."""

import jax
import numpy as np
import pytest

from cnn.data import Split, eval_batches, train_batches
from cnn.data.resident import ResidentSplit, nbytes
from cnn.data.synthetic import SyntheticSplit
from cnn.train import sharding, train_and_evaluate
from cnn.train.metrics import read_metrics
from cnn.train.run import build_run
from cnn.train.sharding import batch_sharding, make_mesh, on_mesh, put_batch, replicated
from tests.tiny_runs import tiny_config, without_speed

pytestmark = pytest.mark.usefixtures("persistent_compilation_cache")


def _split(n: int = 40) -> Split:
    rng = np.random.default_rng(0)
    return Split(rng.normal(size=(n, 6, 5, 2)).astype(np.float32), rng.integers(0, 10, n).astype(np.int32))


def test_a_resident_split_gives_the_host_splits_batches_sharded_as_the_steps_take_them():
    mesh, split = make_mesh(), _split()
    resident = ResidentSplit(split, replicated(mesh), batch_sharding(mesh))
    assert len(resident) == len(split) and resident.image_shape == split.image_shape
    pairs = zip(train_batches(resident, 8, seed=3), train_batches(split, 8, seed=3))
    for _, (ours, host) in zip(range(12), pairs):  # over two epochs and more, each its own permutation
        assert ours["image"].sharding.is_equivalent_to(batch_sharding(mesh), 4)
        np.testing.assert_array_equal(ours["image"], host["image"])
        np.testing.assert_array_equal(ours["label"], host["label"])
    *_, last = eval_batches(resident, 16)  # the padded last batch: rows repeated, masked out
    np.testing.assert_array_equal(last["image"], next(iter(reversed(list(eval_batches(split, 16)))))["image"])


def test_put_batch_passes_resident_batches_through_and_places_host_ones():
    mesh, split = make_mesh(), _split()
    batch = ResidentSplit(split, replicated(mesh), batch_sharding(mesh)).batch(np.arange(8))
    placed = put_batch({**batch, "mask": np.ones(8, np.float32)}, mesh)
    assert placed["image"] is batch["image"]  # no copy
    assert isinstance(placed["mask"], jax.Array) and placed["mask"].sharding.is_equivalent_to(batch_sharding(mesh), 1)


def test_on_mesh_places_in_memory_splits_that_fit_and_leaves_the_rest_on_the_host(monkeypatch):
    mesh, split = make_mesh(), _split()
    assert isinstance(on_mesh(split, mesh), ResidentSplit)
    synthetic = SyntheticSplit(16, (8, 8, 3), num_classes=4, stream=0)
    assert on_mesh(synthetic, mesh) is synthetic  # not an in-memory Split: read from the host
    monkeypatch.setattr(sharding, "RESIDENT_SHARE", (nbytes(split) - 1) / sharding._device_bytes(jax.devices()[0]))
    assert on_mesh(split, mesh) is split  # one byte over the budget
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    monkeypatch.setattr(sharding, "RESIDENT_SHARE", 1.0)
    assert on_mesh(split, mesh) is split  # several processes: each reads its own rows from the host


def test_a_run_on_resident_data_computes_what_a_run_on_host_batches_computes(tmp_path, shared_tiny_data_dir,
                                                                             monkeypatch):
    config = tiny_config(shared_tiny_data_dir)
    run = build_run(config, str(tmp_path / "probe"))
    run.checkpointer.close()
    assert isinstance(run.train_data, ResidentSplit) and isinstance(run.test_data, ResidentSplit)
    read = []
    original = ResidentSplit.batch
    monkeypatch.setattr(ResidentSplit, "batch", lambda self, idx, rng=None: read.append(len(idx)) or original(self, idx))
    resident = train_and_evaluate(config, str(tmp_path / "resident"))
    assert read.count(config.batch_size) >= config.num_train_steps  # the loop and evaluation read the devices' copy
    monkeypatch.setattr(sharding, "RESIDENT_SHARE", 0.0)
    host = train_and_evaluate(config, str(tmp_path / "host"))
    assert resident == host
    assert without_speed(read_metrics(str(tmp_path / "resident"))) == without_speed(read_metrics(str(tmp_path / "host")))
