"""A latest checkpoint damaged on disk (issue 9): the run names it, moves it aside and resumes from the one before."""

import glob
import os
import shutil

import pytest

from cnn.train import train_and_evaluate
from cnn.train.metrics import read_metrics
from tests.tiny_runs import tiny_config, without_speed

# Every case compiles the same programs: with the cache launch.py uses, all but the first run load them.
pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("persistent_compilation_cache")]


def _array_files(checkpoint):
    """The OCDBT data files of a checkpoint, which hold the arrays' chunks, largest first."""
    files = glob.glob(os.path.join(checkpoint, "default", "ocdbt.process_*", "d", "*"))
    return sorted(files, key=os.path.getsize, reverse=True)


def _flip(path, count=16):
    """Inverts `count` bytes in the middle of the file, as a bad disk sector or a stray write would change them."""
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        chunk = f.read(count)
        f.seek(-len(chunk), os.SEEK_CUR)
        f.write(bytes(b ^ 0xFF for b in chunk))


def _flip_index(checkpoint):
    # The B-tree nodes that map each array chunk to its place in the data files.
    for path in glob.glob(os.path.join(checkpoint, "default", "d", "*")):
        _flip(path)


def _truncate_array_file(checkpoint):
    path = _array_files(checkpoint)[0]
    os.truncate(path, os.path.getsize(path) // 2)


def _remove_array_files(checkpoint):
    for path in _array_files(checkpoint):
        os.remove(path)


DAMAGES = [
    pytest.param(_flip_index, id="index-bytes-flipped"),
    pytest.param(lambda checkpoint: _flip(_array_files(checkpoint)[0]), id="array-bytes-flipped"),
    pytest.param(_truncate_array_file, id="array-file-truncated"),
    pytest.param(_remove_array_files, id="array-files-removed"),
    pytest.param(lambda checkpoint: os.remove(os.path.join(checkpoint, "default", "_METADATA")),
                 id="metadata-removed"),
    pytest.param(lambda checkpoint: _flip(os.path.join(checkpoint, "default", "_METADATA")), id="metadata-garbled"),
    pytest.param(lambda checkpoint: _flip(os.path.join(checkpoint, "metrics", "metrics")), id="metrics-garbled"),
]


def _contents(folder):
    contents = {}
    for path in glob.glob(os.path.join(folder, "**"), recursive=True):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                contents[os.path.relpath(path, folder)] = f.read()
    return contents


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_tiny_data_dir):
    """A finished 12-step run (checkpoints 4, 8 and 12): its workdir, final test metrics and metrics.jsonl."""
    workdir = str(tmp_path_factory.mktemp("trained") / "run")
    result = train_and_evaluate(tiny_config(shared_tiny_data_dir), workdir)
    return workdir, result, read_metrics(workdir)


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_latest_checkpoint_is_reported_moved_aside_and_the_previous_one_resumed(
        tmp_path, shared_tiny_data_dir, trained, damage, capsys):
    workdir = str(tmp_path / "run")
    shutil.copytree(trained[0], workdir)
    latest = os.path.join(workdir, "checkpoints", "12")
    damage(latest)
    damaged = _contents(latest)
    capsys.readouterr()
    resumed = train_and_evaluate(tiny_config(shared_tiny_data_dir), workdir)
    out = capsys.readouterr().out
    moved = os.path.join(workdir, "damaged_checkpoints", "12")
    assert f"checkpoint 12 in {os.path.dirname(latest)} cannot be restored" in out
    assert f"moved it to {moved}" in out and "resuming from the checkpoint of step 8" in out
    assert _contents(moved) == damaged  # kept as it was found, for inspection
    # Steps 9 to 12 replayed on the same batches: what the undamaged run computed, line for line.
    assert resumed == trained[1]
    assert without_speed(read_metrics(workdir)) == without_speed(trained[2])
