"""What a finished (or stopped) run reached, read back from its workdir: config.json, metrics.jsonl, machine.json.

    result = read_run("runs/fashion_mnist_lenet5")
    result.final("top1"), result.best("top1"), result.wall_s, result.first_reaching("train", "top1", 0.75)

Tables of results are built from these, never from numbers typed by hand (experiments/tables.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from cnn.train.metrics import read_metrics
from cnn.train.run import total_steps


class RunResultError(ValueError):
    """A workdir holds no run to read; the message names the missing file and how to produce it."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    workdir: str
    config: dict[str, Any]
    records: list[dict[str, Any]]
    machine: dict[str, Any] | None  # None for runs trained before machine.json existed

    def split(self, name: str) -> list[dict[str, Any]]:
        """The records of split `name` ("train" or "test"), in step order."""
        return sorted((r for r in self.records if r["split"] == name), key=lambda r: r["step"])

    def final(self, metric: str = "top1", split: str = "test") -> float | None:
        records = [r for r in self.split(split) if metric in r]
        return records[-1][metric] if records else None

    def best(self, metric: str = "top1", split: str = "test") -> float | None:
        values = [r[metric] for r in self.split(split) if metric in r]
        return max(values) if values else None

    @property
    def steps(self) -> int:
        return max((r["step"] for r in self.records), default=0)

    @property
    def epochs(self) -> float:
        return max((r["epoch"] for r in self.records), default=0.0)

    @property
    def per_epoch(self) -> int | None:
        """Steps per epoch, from the records' step / epoch ratio; None before any record past step 0."""
        return next((round(r["step"] / r["epoch"]) for r in self.records if r["epoch"] > 0), None)

    @property
    def planned_steps(self) -> int | None:
        """The steps the run was configured for (None while per_epoch is unknown); `steps` below it is a run
        that stopped early: interrupted, or diverged."""
        per_epoch = self.per_epoch
        return None if per_epoch is None else total_steps(self.config, per_epoch)

    @property
    def wall_s(self) -> float | None:
        """Seconds of wall time over the run's sessions (each from its start, data and compilation included);
        None for runs logged before records carried `wall_s`."""
        timed = [r for r in self.records if "wall_s" in r]
        if not timed:
            return None
        # Records are in the order written; a resumed session counts from zero again.
        total, last = 0.0, 0.0
        for record in timed:
            if record["wall_s"] < last:
                total += last
            last = record["wall_s"]
        return round(total + last, 2)

    def first_reaching(self, split: str, metric: str, threshold: float, *, below: bool = False) -> dict | None:
        """The first record of `split` whose `metric` is at least `threshold` (at most, with `below`), or None."""
        for record in self.split(split):
            if metric in record and (record[metric] <= threshold if below else record[metric] >= threshold):
                return record
        return None


def read_run(workdir: str) -> RunResult:
    """The run in `workdir`; RunResultError if it has no config.json or no metrics yet."""
    for name in ("config.json", "metrics.jsonl"):
        if not os.path.exists(os.path.join(workdir, name)):
            raise RunResultError(f"{os.path.join(workdir, name)} not found: train the run first "
                                 f"(python launch.py train --config ... --workdir {workdir})")
    with open(os.path.join(workdir, "config.json")) as f:
        config = json.load(f)
    machine_path = os.path.join(workdir, "machine.json")
    machine = None
    if os.path.exists(machine_path):
        with open(machine_path) as f:
            machine = json.load(f)
    return RunResult(workdir=workdir, config=config, records=read_metrics(workdir), machine=machine)
