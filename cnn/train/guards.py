"""What stops a run early: a SIGTERM or SIGINT (checkpoint, then exit), or a non-finite loss."""

from __future__ import annotations

import signal
import threading

import jax
import numpy as np


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

    The loop polls `received` after each step, so it can checkpoint and exit cleanly; a second
    signal restores the default handlers' behaviour (ctrl-C twice aborts at once).
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received: int | None = None
        self._previous: dict[int, object] = {}

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
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
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
