"""Metrics as JSON lines in `workdir/metrics.jsonl` (one object per line) and as TensorBoard events.

TensorBoard events are written by tensorboardX, which does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from numbers import Number
from typing import Any

import numpy as np
from tensorboardX import SummaryWriter

from cnn.distributed import is_lead

# Fields of a record that locate it rather than measure something; they are not TensorBoard scalars.
_INDEX_FIELDS = ("split", "step", "epoch", "count", "wall_s")
# Per-step train metrics that a log line sums over its window instead of averaging.
_COUNTED = ("skipped_updates",)


class MetricsWriter:
    """Appends one JSON object per record, flushed at once so a crash loses nothing written.

    `purge_after=S` (a run resuming from step S) first drops the records of later steps,
    which a killed run wrote after its last checkpoint and the resumed run will write again;
    TensorBoard is told to drop its own copies of them too. With `started` (a `time.monotonic()`
    reading), every record gets `wall_s`: the seconds since then.
    """

    def __init__(self, workdir: str, purge_after: int | None = None, started: float | None = None):
        self.started = started
        self.path = os.path.join(workdir, "metrics.jsonl")
        # One file however many processes train: the others' records are the same numbers.
        self._events = None
        if not is_lead():
            return
        if purge_after is not None and os.path.exists(self.path):
            kept = [r for r in read_metrics(workdir) if r["step"] <= purge_after]
            with open(self.path + ".tmp", "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in kept)
            os.replace(self.path + ".tmp", self.path)
        purge_step = purge_after + 1 if purge_after is not None else None
        self._events = SummaryWriter(workdir, purge_step=purge_step)

    def write(self, record: dict[str, Any]) -> None:
        if self._events is None:
            return
        record = {k: _plain(v) for k, v in record.items()}
        if self.started is not None:
            record["wall_s"] = round(time.monotonic() - self.started, 2)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        for key, value in record.items():
            if key not in _INDEX_FIELDS and isinstance(value, Number):
                self._events.add_scalar(f"{record['split']}/{key}", value, record["step"])
        self._events.flush()  # records come seconds apart; a kill must not lose the buffered ones

    def close(self) -> None:
        if self._events is not None:
            self._events.close()


def _plain(value: Any) -> Any:
    """Python scalars from numpy/jax scalars, so json can write them."""
    return value.item() if hasattr(value, "item") else value


def read_metrics(workdir: str) -> list[dict[str, Any]]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


class TrainWindow:
    """Train metrics between two log lines: their means, and images/s over training time only."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self._metrics: list[dict] = []
        self._start = time.perf_counter()
        self._paused = 0.0

    def add(self, metrics: dict) -> None:
        self._metrics.append(metrics)

    @contextlib.contextmanager
    def paused(self):
        """Time spent inside (evaluation, checkpointing) is not counted as training time."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - start

    def flush(self) -> dict[str, float]:
        """Means of the metrics added since the last flush, plus `images_per_sec`; starts a new window."""
        means = {k: float((np.sum if k in _COUNTED else np.mean)([m[k] for m in self._metrics]))
                 for k in self._metrics[0]}
        elapsed = time.perf_counter() - self._start - self._paused
        means["images_per_sec"] = len(self._metrics) * self.batch_size / elapsed
        self._metrics, self._start, self._paused = [], time.perf_counter(), 0.0
        return means
