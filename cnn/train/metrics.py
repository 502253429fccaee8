"""Metrics as JSON lines in `workdir/metrics.jsonl`, one object per line."""

from __future__ import annotations

import json
import os
from typing import Any


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
