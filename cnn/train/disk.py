"""Checks, before a run trains, that its workdir can be written and has room for the checkpoints it will keep.

A full disk found at the first checkpoint has wasted the run up to it; found here, it costs nothing.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile

import jax
import ml_collections

from cnn.config import ConfigError
from cnn.train.state import TrainState

MB = 1 << 20
# metrics.jsonl, the TensorBoard events, config.json and plots/curves.png: a few MB for a long run.
METRICS_MARGIN = 16 * MB


class WorkdirError(ConfigError):
    """The workdir cannot be written or lacks free space; the message names the path, the cause and the fix."""


def _nearest_existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def check_writable(workdir: str) -> None:
    """Raises WorkdirError unless a file can be written and fsynced in `workdir`.

    The probe file goes into `workdir` or, while it does not exist yet, its nearest existing parent,
    and is removed: a run refused later (a config typo) leaves no empty workdir behind.
    """
    folder = _nearest_existing(workdir)
    try:
        if not os.path.isdir(folder):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), folder)
        fd, probe = tempfile.mkstemp(prefix=".write_probe_", dir=folder)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.remove(probe)
    except OSError as e:
        raise WorkdirError(f"cannot write to the workdir {workdir}: {e.strerror} ({e.filename or folder}); "
                           "use another --workdir, or make this one writable") from None


def kept_checkpoints(config: ml_collections.ConfigDict) -> int:
    """The most checkpoints a run keeps at once: the latest N, the best N and those at keep_checkpoint_epochs."""
    # .get: configs written before the key existed are still resumed
    return config.keep_checkpoints + config.keep_best_checkpoints + len(config.get("keep_checkpoint_epochs", ()))


def run_headroom(state: TrainState, checkpoints: int, checkpoint_dir: str) -> int:
    """Bytes a run still needs free to keep `checkpoints` checkpoints of `state` in `checkpoint_dir`.

    A checkpoint holds params, opt_state and batch_stats (orbax compresses them, so their size in
    memory is an upper bound). While one is written the kept ones are all still there: orbax removes
    the oldest only once the new one is complete, so up to `checkpoints` + 1 exist at once. Those
    already in `checkpoint_dir` (a resumed run) count towards them, but the one in flight always
    needs room of its own. METRICS_MARGIN covers the metrics and plots.
    """
    size = sum(leaf.nbytes for leaf in jax.tree.leaves((state.params, state.opt_state, state.batch_stats)))
    return max(size * (checkpoints + 1) - _folder_bytes(checkpoint_dir), size) + METRICS_MARGIN


def _folder_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(folder) for name in names)


def check_free_space(workdir: str, needed_bytes: int) -> None:
    """Raises WorkdirError when the filesystem of `workdir` has less than `needed_bytes` free."""
    free = shutil.disk_usage(_nearest_existing(workdir)).free
    if free < needed_bytes:
        raise WorkdirError(f"the disk of the workdir {workdir} has {free / MB:.1f} MB free but this run needs "
                           f"{needed_bytes / MB:.1f} MB for its checkpoints and metrics; free space or use "
                           "another --workdir")
