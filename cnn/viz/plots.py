"""Figures drawn with matplotlib's object API (no pyplot global state), saved atomically as PNG."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def save_png(fig: Figure, path: str) -> str:
    """Writes `fig` to `path` through a temporary file, so a crash never leaves half a PNG; returns `path`."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    FigureCanvasAgg(fig)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)
    return path


def plot_curves(records: Sequence[dict[str, Any]], path: str, title: str = "") -> str:
    """Loss and top-1 against step, train and test, from metrics.jsonl records; writes a PNG at `path`."""
    if not records:
        raise ValueError(f"no metrics to plot for {path}: the run has not logged a step yet")
    fig = Figure(figsize=(10, 4), layout="constrained")
    for ax, metric, label in zip(fig.subplots(1, 2), ("loss", "top1"), ("loss", "top-1 accuracy")):
        for split, style in (("train", "-"), ("test", "o-")):
            points = sorted((r["step"], r[metric]) for r in records if r.get("split") == split and metric in r)
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, style, markersize=3, label=split)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


def write_curves(workdir: str) -> str | None:
    """Regenerates `workdir/plots/curves.png` from `workdir/metrics.jsonl`; its path, or None if nothing is logged."""
    from cnn.train.metrics import read_metrics  # here, not at the top: cnn.train draws curves too

    records = read_metrics(workdir) if os.path.exists(os.path.join(workdir, "metrics.jsonl")) else []
    if not records:
        return None
    path = os.path.join(workdir, "plots", "curves.png")
    return plot_curves(records, path, title=os.path.basename(os.path.abspath(workdir)))
