"""Orbax checkpoints of the train state in `workdir/checkpoints`: the latest N and the best N by test top-1.

Orbax writes each checkpoint to a temporary folder and renames it when complete, so a run
killed mid-save leaves no checkpoint that a resume would pick up. A checkpoint that fails to
restore is moved to `workdir/damaged_checkpoints/` (never deleted) and the previous one is used.

Orbax keeps no checksum of the arrays (zstd-compressed chunks whose flipped bytes decode to other
values), so each checkpoint also records a crc32 of every array it holds, and a restore whose
arrays do not match is a damaged checkpoint like any other.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import zlib
from collections.abc import Callable, Sequence

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from cnn.distributed import is_lead, lead_print, wait_for_all
from cnn.train.state import TrainState

BEST_METRIC = "top1"


def _best_metric(metrics: dict) -> float:
    return metrics[BEST_METRIC]


class _NoMissingMetricsWarning(logging.Filter):
    """Checkpoints between evaluations are saved without metrics on purpose; orbax warns at each one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "did not provide metrics" not in record.getMessage()


logging.getLogger("absl").addFilter(_NoMissingMetricsWarning())


class CheckpointError(ValueError):
    """A requested checkpoint does not exist or cannot be read; the message says what there is."""


def _savable(state: TrainState) -> dict:
    return {"step": state.step, "params": state.params, "opt_state": state.opt_state,
            "batch_stats": state.batch_stats}


def _digests(tree) -> dict[str, int]:
    """crc32 of each array's bytes, by its path in `tree` (replicated, so every process computes the same).

    Python numbers are left out: orbax restores them as arrays of the target's dtype, other bytes.
    """
    leaves, _ = jax.tree_util.tree_flatten_with_path(jax.device_get(tree))
    return {jax.tree_util.keystr(path): zlib.crc32(np.ascontiguousarray(leaf).tobytes())
            for path, leaf in leaves if isinstance(leaf, np.ndarray)}


def _first_line(e: Exception, limit: int = 300) -> str:
    """`Type: first line of the message`: orbax and tensorstore errors run over many lines."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:limit] if lines else ''}"


def _unreadable_metrics(directory: str) -> list[int]:
    """Steps whose metrics file does not parse: orbax reads them all when its manager is built, and would stop."""
    bad = []
    for name in os.listdir(directory) if os.path.isdir(directory) else ():
        path = os.path.join(directory, name, "metrics", "metrics")
        if name.isdigit() and os.path.exists(path):
            try:
                with open(path, "rb") as f:
                    json.loads(f.read())
            except ValueError:
                bad.append(int(name))
    return sorted(bad)


class Checkpointer:
    """Saves every `every_steps` steps, at each of `keep_steps` (and on demand); keeps the latest `keep`, the
    best `keep_best` and those at `keep_steps` (the snapshots a filter-evolution figure is drawn from).

    Only checkpoints saved with metrics (at an evaluation step) compete for best.
    """

    def __init__(self, workdir: str, every_steps: int, keep: int, keep_best: int = 1,
                 keep_steps: Sequence[int] = ()):
        preserve = [checkpoint_managers.LatestN(keep), checkpoint_managers.CustomSteps(keep_steps)]
        if keep_best > 0:
            preserve.append(checkpoint_managers.BestN(
                get_metric_fn=_best_metric, n=keep_best,
                keep_checkpoints_without_metrics=False))
        options = ocp.CheckpointManagerOptions(
            save_decision_policy=checkpoint_managers.AnySavePolicy([
                checkpoint_managers.FixedIntervalPolicy(every_steps),
                checkpoint_managers.SpecificStepsPolicy(tuple(keep_steps))]),
            preservation_policy=checkpoint_managers.AnyPreservationPolicy(preserve),
            # Orbax persists metrics (and reloads them on resume, for BestN) only when best_fn is set.
            best_fn=_best_metric, best_mode="max",
        )
        self.workdir = os.path.abspath(workdir)
        self.directory = os.path.join(self.workdir, "checkpoints")
        for step in _unreadable_metrics(self.directory):
            lead_print(f"{self._unrestorable(step, 'its metrics file does not parse')}; "
                       f"moved it to {self._move_aside(step)}")
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def best_step(self) -> int | None:
        """The step whose checkpoint has the highest test top-1 (the later one on ties), or None."""
        return self._manager.best_step()

    def resolve(self, which: str) -> int:
        """The step named by `latest`, `best` or a step number; CheckpointError if there is none."""
        steps = self.steps()
        if not steps:
            raise CheckpointError(f"no checkpoints in {self.directory}; train first (launch.py train)")
        if which == "latest":
            return steps[-1]
        if which == "best":
            step = self.best_step()
            if step is None:
                raise CheckpointError(f"no checkpoint in {self.directory} was saved with test metrics, so none "
                                      f"is best; use --checkpoint=latest or one of the steps {steps}")
            return step
        if which.isdigit() and int(which) in steps:
            return int(which)
        raise CheckpointError(f"no checkpoint {which!r} in {self.directory}: use latest, best or one of {steps}")

    def restore(self, state: TrainState, step: int) -> TrainState:
        """`state` with the values saved at `step`; `state` supplies the structure, shapes and dtypes.

        Raises CheckpointError, naming the checkpoint and the cause, when it cannot be read.
        """
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, _savable(state))
        try:
            restored = self._manager.restore(step, args=ocp.args.StandardRestore(target))
        except Exception as e:  # orbax and tensorstore raise many types for damaged or mismatched files
            raise self._unrestorable(step, _first_line(e, 200)) from e
        saved = self._saved_digests(step)
        if saved and (changed := [k for k, v in _digests(restored).items() if saved.get(k, v) != v]):
            raise self._unrestorable(step, f"its files are damaged: {len(changed)} arrays differ from what was "
                                           f"saved, e.g. {changed[0]}")
        return state.replace(**restored)

    def _unrestorable(self, step: int, cause: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {step} in {self.directory} cannot be restored ({cause})")

    def _saved_digests(self, step: int) -> dict[str, int] | None:
        """The crc32s saved with `step`; None for checkpoints written before cnn recorded them."""
        try:
            return self._manager.metadata(step).custom_metadata.get("digests")
        except Exception:  # a damaged metadata file: the arrays' own check above has already passed
            return None

    def restore_latest(self, state: TrainState, report: Callable[[str], None] = print) -> TrainState:
        """`state` from the latest checkpoint that restores; `state` itself when none does.

        Each damaged checkpoint on the way is reported and moved aside, so a later save at
        the same step does not collide with it.
        """
        for step in reversed(self.steps()):
            try:
                return self.restore(state, step)
            except CheckpointError as e:
                report(f"{e}; moved it to {self._move_aside(step)} and trying the previous one")
                self._manager.reload()
        return state

    def _move_aside(self, step: int) -> str:
        target_dir = os.path.join(self.workdir, "damaged_checkpoints")
        target, n = os.path.join(target_dir, str(step)), 1
        while os.path.exists(target):
            target, n = os.path.join(target_dir, f"{step}.{n}"), n + 1
        # Every process failed on the same files; one moves them, and none reloads before it has.
        if is_lead():
            os.makedirs(target_dir, exist_ok=True)
            shutil.move(os.path.join(self.directory, str(step)), target)
        wait_for_all(f"damaged checkpoint {step} moved aside")
        return target

    def should_save(self, step: int) -> bool:
        return self._manager.should_save(step)

    def save(self, step: int, state: TrainState, metrics: dict[str, float] | None = None,
             force: bool = False) -> None:
        """Saves `state` (at `step`, passed in to avoid a device sync) when the policy says so, or if `force`."""
        if step in self._manager.all_steps():
            return
        try:
            savable = _savable(state)
            self._manager.save(step, args=ocp.args.StandardSave(savable), metrics=metrics, force=force,
                               custom_metadata={"digests": _digests(savable)})
        except Exception as e:  # saves are asynchronous: this is often the previous save's failure, surfacing now
            raise self._save_failed(e) from e

    def wait(self) -> None:
        """Blocks until every save started so far is complete on disk; CheckpointError if one failed."""
        try:
            self._manager.wait_until_finished()
        except Exception as e:
            raise self._save_failed(e) from e

    def _save_failed(self, e: Exception) -> CheckpointError:
        """The error of a save that did not complete, `e` being what orbax raised.

        Orbax writes a checkpoint under a temporary name, which no resume picks up (and the next save of
        that step replaces), and deletes older checkpoints only once a save is complete: those are intact.
        """
        full = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up"}
        # Tensorstore, which writes the arrays, raises ValueError with the OS error's text in its message.
        no_room = next((f"{what} ({os.strerror(n)})" for n, what in full.items()
                        if getattr(e, "errno", None) == n or os.strerror(n) in str(e)), None)
        cause = no_room or _first_line(e)
        fix = "Free space or use another --workdir, then rerun" if no_room else "Fix the cause, then rerun"
        latest = self.latest_step()
        kept = ("no checkpoint had been saved before it" if latest is None else
                f"the checkpoints saved before it are intact and a rerun resumes from the latest, step {latest}")
        return CheckpointError(f"saving a checkpoint in {self.directory} failed: {cause}; {kept}. {fix}")

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._manager.close()  # its own wait does not raise a failure again: wait() above has reported it
