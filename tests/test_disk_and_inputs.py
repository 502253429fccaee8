"""A full or unwritable disk, and bad inputs (issue 9): each refused with one clear error, and nothing lost.

Unknown model, dataset and optimizer names, corrupt dataset files and batch sizes the devices do not
divide are refused by unit tests beside their code; here bad inputs are seen as a user sees them,
through launch.py, where the error has to be the one thing printed.
"""

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import types

import jax
import numpy as np
import optax
import pytest
from orbax.checkpoint._src.serialization import serialization

from cnn.config import load_config
from cnn.models import create
from cnn.train import disk, train_and_evaluate
from cnn.train.checkpoint import Checkpointer, CheckpointError
from cnn.train.disk import METRICS_MARGIN, WorkdirError, kept_checkpoints, run_headroom
from cnn.train.metrics import read_metrics
from cnn.train.state import create_train_state
from tests.tiny_runs import CONFIG, tiny_config, without_speed

# Its tests train LeNet-5 on the tiny set again and again: the persistent cache loads the programs the first compiled.
pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("persistent_compilation_cache")]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 1 << 20


def _files(folder):
    """Every file under `folder` with its bytes, to show that a refused run changed nothing."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                files[os.path.relpath(f.name, folder)] = f.read()
    return files


def _lenet_state():
    return create_train_state(create("lenet5", num_classes=10), optax.sgd(0.1, momentum=0.9), jax.random.key(0),
                              (28, 28, 1))


def _leaves_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


# --- An unwritable workdir, too little free space ---

@pytest.mark.parametrize("where", ["under_a_file", "in_proc"])
def test_an_unwritable_workdir_is_refused_before_the_run_is_built_and_nothing_is_written(
        tmp_path, tiny_data_dir, monkeypatch, where):
    (tmp_path / "afile").write_text("not a folder")
    workdir, cause = {"under_a_file": (str(tmp_path / "afile" / "run"), "Not a directory"),
                      "in_proc": ("/proc/cnn_run", "No such file or directory")}[where]
    before = _files(tmp_path)
    monkeypatch.setattr("cnn.train.loop.build_run", lambda *a: pytest.fail("the run was built"))
    with pytest.raises(WorkdirError, match=rf"^cannot write to the workdir {re.escape(workdir)}: {cause} .*another --workdir"):
        train_and_evaluate(tiny_config(tiny_data_dir), workdir)
    assert _files(tmp_path) == before


def test_the_write_probe_leaves_no_trace_and_does_not_create_the_workdir(tmp_path):
    disk.check_writable(str(tmp_path / "new" / "run"))
    assert os.listdir(tmp_path) == []


def test_headroom_is_the_kept_checkpoints_plus_one_in_flight_less_those_already_there(tmp_path):
    state = types.SimpleNamespace(params={"w": np.zeros(1500, np.float32)}, opt_state=(np.zeros(500, np.float32),),
                                  batch_stats={})  # 8000 bytes
    folder = tmp_path / "checkpoints"
    assert run_headroom(state, 2, str(folder)) == 3 * 8000 + METRICS_MARGIN  # a new run: no folder yet
    folder.mkdir()
    (folder / "a").write_bytes(bytes(10_000))
    assert run_headroom(state, 2, str(folder)) == 14_000 + METRICS_MARGIN
    (folder / "b").write_bytes(bytes(10_000))
    assert run_headroom(state, 2, str(folder)) == 8000 + METRICS_MARGIN  # the save in flight needs its own room
    assert kept_checkpoints(load_config(CONFIG)) == 3 + 1 + 4  # latest 3, best 1, 4 epochs kept for the figures


def test_too_little_free_space_is_refused_before_training_and_the_workdir_is_untouched(
        tmp_path, tiny_data_dir, monkeypatch):
    workdir = str(tmp_path / "run")
    train_and_evaluate(tiny_config(tiny_data_dir), workdir)
    os.rename(os.path.join(workdir, "checkpoints", "12"), str(tmp_path / "12"))  # a kill after step 8's checkpoint
    before = _files(workdir)
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: types.SimpleNamespace(free=5 * MB))
    monkeypatch.setattr("cnn.train.loop.Prefetcher", lambda *a: pytest.fail("training started"))
    with pytest.raises(WorkdirError) as error:
        train_and_evaluate(tiny_config(tiny_data_dir), workdir)
    match = re.fullmatch(rf"the disk of the workdir {re.escape(workdir)} has 5\.0 MB free but this run needs "
                         r"(\d+\.\d) MB for its checkpoints and metrics; free space or use another --workdir",
                         str(error.value))
    assert match, error.value
    # LeNet-5 and its momentum are 0.47 MB: room for the 4 kept and 1 in flight, less the 2 there, and metrics.
    assert METRICS_MARGIN / MB + 0.47 < float(match[1]) < METRICS_MARGIN / MB + 5 * 0.47
    assert _files(workdir) == before


# --- A save that fails mid-way ---

class _NoSpaceAt:
    """While `step` is set, orbax's array writes for that step's checkpoint fail with ENOSPC from the third
    array on: the save dies mid-way, part of its files written."""

    def __init__(self, monkeypatch):
        self.step, self.writes = None, []
        original = serialization.async_serialize_from_host

        async def write(replica_slices, tensorstore_spec, *args, **kwargs):
            if self.step is not None and f"{os.sep}{self.step}.orbax-checkpoint-tmp" in json.dumps(tensorstore_spec):
                self.writes.append(tensorstore_spec)
                if len(self.writes) >= 3:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return await original(replica_slices, tensorstore_spec, *args, **kwargs)

        monkeypatch.setattr(serialization, "async_serialize_from_host", write)


def test_a_save_failing_mid_way_keeps_the_last_good_checkpoint_and_the_rerun_ends_as_an_uninterrupted_run(
        tmp_path, tiny_data_dir, monkeypatch):
    straight = str(tmp_path / "straight")
    expected = train_and_evaluate(tiny_config(tiny_data_dir), straight)
    workdir = str(tmp_path / "run")
    no_space = _NoSpaceAt(monkeypatch)
    no_space.step = 8  # checkpoints every 4 steps: step 4's is written, step 8's fails
    with pytest.raises(CheckpointError) as error:
        train_and_evaluate(tiny_config(tiny_data_dir), workdir)
    assert len(no_space.writes) >= 3
    assert str(error.value) == (
        f"saving a checkpoint in {workdir}/checkpoints failed: the disk is full (No space left on device); the "
        "checkpoints saved before it are intact and a rerun resumes from the latest, step 4. Free space or use "
        "another --workdir, then rerun")
    checkpoints = os.listdir(os.path.join(workdir, "checkpoints"))
    assert "8" not in checkpoints and "8.orbax-checkpoint-tmp" in checkpoints  # half-written, under its own name
    checkpointer = Checkpointer(workdir, every_steps=4, keep=3)
    assert checkpointer.steps() == [4]
    checkpointer.close()

    no_space.step = None  # the disk has room again
    assert train_and_evaluate(tiny_config(tiny_data_dir), workdir) == expected
    assert without_speed(read_metrics(workdir)) == without_speed(read_metrics(straight))
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints")), key=int) == ["4", "8", "12"]


@pytest.fixture
def small_filesystem(tmp_path):
    """`mount(size)`: a tmpfs of `size` bytes at tmp_path/fs (resized by a later call), unmounted afterwards;
    skips the test where mounting is not permitted (not root, or a container without CAP_SYS_ADMIN)."""
    mount_point = str(tmp_path / "fs")
    os.mkdir(mount_point)
    mounted = []

    def mount(size: int) -> str:
        if shutil.which("mount") is None:
            pytest.skip("no mount command here")
        options = f"remount,size={size}" if mounted else f"size={size}"
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", mount_point], capture_output=True,
                              text=True)
        if proc.returncode and not mounted:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        assert proc.returncode == 0, proc.stderr
        mounted.append(size)
        return mount_point

    yield mount
    if mounted:
        subprocess.run(["umount", mount_point], check=True)


def _tmpfs_bytes(folder):
    """What `folder` takes on a tmpfs, which stores each file in whole pages."""
    page = os.sysconf("SC_PAGE_SIZE")
    return sum(-(-os.path.getsize(os.path.join(root, name)) // page) * page
               for root, _, names in os.walk(folder) for name in names)


def test_a_real_full_disk_mid_save_keeps_the_earlier_checkpoints_restorable(tmp_path, small_filesystem):
    state = _lenet_state()
    measure = Checkpointer(str(tmp_path / "measure"), every_steps=1, keep=1)
    measure.save(1, state, force=True)
    measure.close()
    size = _tmpfs_bytes(tmp_path / "measure")
    workdir = small_filesystem(size * 5 // 2)  # two checkpoints fit, a third does not
    checkpointer = Checkpointer(workdir, every_steps=1, keep=2)
    for step in (1, 2):
        checkpointer.save(step, state.replace(step=step), force=True)
        checkpointer.wait()
    with pytest.raises(CheckpointError, match=rf"^saving a checkpoint in {re.escape(workdir)}/checkpoints failed: the disk is "
                       r"full \(No space left on device\); .* resumes from the latest, step 2\. Free space"):
        checkpointer.save(3, state.replace(step=3), force=True)
        checkpointer.wait()
    checkpointer.close()

    checkpointer = Checkpointer(workdir, every_steps=1, keep=2)
    assert checkpointer.steps() == [1, 2]
    for step in (1, 2):
        assert _leaves_equal(checkpointer.restore(state, step).params, state.params)
    small_filesystem(size * 5)  # space freed: the run goes on from its last checkpoint
    assert int(checkpointer.restore_latest(state).step) == 2
    checkpointer.save(3, state.replace(step=3), force=True)
    checkpointer.close()
    assert Checkpointer(workdir, every_steps=1, keep=2).steps() == [2, 3]


# --- Bad inputs, through launch.py ---

def _launch(workdir, data_dir, *overrides, config=CONFIG, env=None):
    args = [f"--config={config}", f"--workdir={workdir}", f"--config.dataset.data_dir={data_dir}",
            "--config.batch_size=16", "--config.num_train_steps=4", "--config.schedule.warmup_epochs=0", *overrides]
    return subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"), "train", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}, timeout=300)


def _error(proc):
    """The error launch.py stopped with: exit code 1, and stderr is `error: ...` and nothing else."""
    assert proc.returncode == 1 and proc.stderr.startswith("error: "), proc.stderr[-3000:]
    return proc.stderr.strip()


@pytest.mark.parametrize("case, overrides, env, expected", [
    pytest.param("unwritable", (), {}, "error: cannot write to the workdir {workdir}: Not a directory ({parent})",
                 id="unwritable_workdir"),
    pytest.param("channels", ("--config.model.name=two_stream",), {},
                 "error: config.model.name=two_stream cannot take the 28×28×1 images of fashion_mnist (it was "
                 "designed for 224×224×23): two_stream with flow_frames=10 takes 3 RGB + 20 flow channels = 23",
                 id="channel_count"),
    pytest.param("size", ("--config.model.name=vgg16",), {},
                 "error: config.model.name=vgg16 cannot take the 28×28×1 images of fashion_mnist (it was designed "
                 "for 224×224×3): VGG's 5 2×2 max pools need inputs of at least 32×32, got 28×28", id="input_size"),
    pytest.param("devices", ("--config.batch_size=12",), {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"},
                 "error: config.batch_size 12 does not split over the 8 devices of the data axis; use a multiple "
                 "of 8 (e.g. 8 or 16)", id="batch_over_devices"),
])
def test_a_bad_input_is_one_error_line_and_leaves_no_workdir(tmp_path, tiny_data_dir, case, overrides, env,
                                                             expected):
    parent = tmp_path / "afile" if case == "unwritable" else tmp_path
    if case == "unwritable":
        parent.write_text("not a folder")
    workdir = parent / "run"
    message = _error(_launch(workdir, tiny_data_dir, *overrides, env=env))
    assert "\n" not in message and message.startswith(expected.format(workdir=workdir, parent=parent)), message
    assert not workdir.exists()


def test_another_experiments_config_in_the_workdir_is_refused_naming_the_keys_and_changes_nothing(
        tmp_path, tiny_data_dir):
    workdir = str(tmp_path / "run")
    train_and_evaluate(tiny_config(tiny_data_dir, num_train_steps=4), workdir)
    before = _files(workdir)
    message = _error(_launch(workdir, tiny_data_dir,
                             config=os.path.join(ROOT, "experiments", "fashion_mnist", "deep_fried.py")))
    assert message.startswith(f"error: {workdir} holds a run with another config ({workdir}/config.json)")
    assert "\n" not in message and "model.name: 'lenet5' -> 'deep_fried_mnist'; " in message
    assert "Use a new --workdir" in message
    assert _files(workdir) == before
