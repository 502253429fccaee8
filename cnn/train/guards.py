"""What stops a run early: a SIGTERM or SIGINT (checkpoint, then exit), or a non-finite loss."""

from __future__ import annotations

import signal
import threading

import jax
import numpy as np
from jax.experimental import multihost_utils


class RunInterrupted(Exception):
    """A signal stopped the run after its state was checkpointed at `step`."""

    def __init__(self, signum: int, step: int, directory: str):
        self.signum, self.step = signum, step
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}: checkpoint saved in "
                         f"{directory}; rerun the same command to resume")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class StopSignals:
    """Within `with`, SIGTERM and SIGINT set `received` instead of killing the process.

    The loop asks `stop_at(step)` after each step, so it can checkpoint and exit cleanly; a second
    signal restores the default handlers' behaviour (ctrl-C twice aborts at once).

    With several processes a checkpoint is collective, so all must stop at the same step, whichever
    of them got the signal and when. SIGTERM is then left to JAX's preemption service, which tells
    every process the first step all of them can still reach; SIGINT keeps its default (it stops
    one process, and the run costs at most a checkpoint interval).
    """

    def __init__(self):
        self.received: int | None = None
        self._previous: dict[int, object] = {}
        self._agreed = jax.process_count() > 1
        self._signals = () if self._agreed else (signal.SIGTERM, signal.SIGINT)

    def stop_at(self, step: int) -> bool:
        """Whether to checkpoint `step` and stop; called once per step, with the same steps on every process."""
        if self._agreed and multihost_utils.reached_preemption_sync_point(step):
            self.received = signal.SIGTERM
        return self.received is not None

    def _handle(self, signum, frame) -> None:
        if self.received is not None:
            self._restore()
            signal.raise_signal(signum)
            return
        self.received = signum

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def __enter__(self) -> StopSignals:
        # Python only lets the main thread install handlers; elsewhere signals keep their default.
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self._signals}
        return self

    def __exit__(self, *exc) -> None:
        self._restore()


class LossGuard:
    """Collects per-step losses (device arrays, so no sync per step) and finds the first non-finite one."""

    def __init__(self):
        self._pending: list[tuple[int, jax.Array]] = []

    def add(self, step: int, loss: jax.Array) -> None:
        self._pending.append((step, loss))

    def first_nonfinite(self) -> tuple[int, float] | None:
        """(step, loss) of the first non-finite loss since the last call, or None; clears the pending losses."""
        if not self._pending:
            return None
        steps = [s for s, _ in self._pending]
        losses = np.asarray(jax.device_get([loss for _, loss in self._pending]))
        self._pending = []
        bad = np.flatnonzero(~np.isfinite(losses))
        return (steps[bad[0]], float(losses[bad[0]])) if bad.size else None
