"""Orbax checkpoints of the train state in `workdir/checkpoints`.

Orbax writes each checkpoint to a temporary folder and renames it when complete, so a
run killed mid-save leaves no checkpoint that a resume would pick up.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from cnn.train.state import TrainState


def _savable(state: TrainState) -> dict:
    return {"step": state.step, "params": state.params, "opt_state": state.opt_state,
            "batch_stats": state.batch_stats}


class Checkpointer:
    """Saves every `every_steps` steps (and on demand), keeps the latest `keep`, restores the latest."""

    def __init__(self, workdir: str, every_steps: int, keep: int):
        options = ocp.CheckpointManagerOptions(
            save_decision_policy=checkpoint_managers.FixedIntervalPolicy(every_steps),
            preservation_policy=checkpoint_managers.LatestN(keep),
        )
        self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def restore_latest(self, state: TrainState) -> TrainState:
        """`state` with the values of the latest checkpoint; `state` itself when there is none."""
        step = self.latest_step()
        if step is None:
            return state
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, _savable(state))
        restored = self._manager.restore(step, args=ocp.args.StandardRestore(target))
        return state.replace(**restored)

    def save(self, step: int, state: TrainState, force: bool = False) -> None:
        """Saves `state` (at `step`, passed in to avoid a device sync) when the policy says so, or if `force`."""
        if force and step == self.latest_step():
            return
        self._manager.save(step, args=ocp.args.StandardSave(_savable(state)), force=force)

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
