"""How far the host may run ahead of the device: a bounded queue of dispatched train steps."""

from __future__ import annotations

from collections import deque
from typing import Any

import jax


class StepPacer:
    """Lets at most `ahead` dispatched train steps be unfinished; counts the steps that finished.

    A jitted step returns as soon as it is queued, so an unbounded loop queues steps until something
    fetches a value (a log line): a progress bar that counts dispatched steps then races ahead and
    stalls at each log line, its ETA swinging, and each queued step holds its batch in device memory
    and delays a SIGTERM's checkpoint. Waiting on the step before the newest keeps the device busy
    (one step is always queued behind the running one) while the bar counts finished work.
    """

    def __init__(self, ahead: int = 1):
        if ahead < 0:
            raise ValueError(f"ahead must be >= 0, got {ahead}")
        self.ahead = ahead
        self._queued: deque[Any] = deque()

    def add(self, output: Any) -> int:
        """Notes a dispatched step by any of its outputs; returns how many steps were waited on to finish."""
        self._queued.append(output)
        return self._wait(self.ahead)

    def drain(self) -> int:
        """Waits for every queued step; returns how many there were."""
        return self._wait(0)

    def _wait(self, keep: int) -> int:
        finished = 0
        while len(self._queued) > keep:
            jax.block_until_ready(self._queued.popleft())
            finished += 1
        return finished
