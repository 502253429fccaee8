"""Metrics as JSON lines in `workdir/metrics.jsonl`, one object per line."""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

import numpy as np


class MetricsWriter:
    """Appends one JSON object per call; each line is flushed so a crash loses nothing written."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, "metrics.jsonl")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({k: _plain(v) for k, v in record.items()})
        with open(self.path, "a") as f:
            f.write(line + "\n")


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
        means = {k: float(np.mean([m[k] for m in self._metrics])) for k in self._metrics[0]}
        elapsed = time.perf_counter() - self._start - self._paused
        means["images_per_sec"] = len(self._metrics) * self.batch_size / elapsed
        self._metrics, self._start, self._paused = [], time.perf_counter(), 0.0
        return means
