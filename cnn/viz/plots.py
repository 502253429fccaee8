"""Figures drawn with matplotlib's object API (no pyplot global state), saved atomically as PNG."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


MIN_WIDTH_INCHES = 3.2  # so that a one-image figure still has room for its title


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


def displayable(image: np.ndarray) -> np.ndarray:
    """An (H, W) or (H, W, 1|3) array of any range as what imshow draws: (H, W) grey or (H, W, 3) RGB in [0, 1],
    stretched from its own minimum to its maximum (a constant image becomes mid-grey)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise ValueError(f"can only draw (H, W), (H, W, 1) or (H, W, 3) images, got shape {image.shape}")
    low, high = image.min(), image.max()
    return np.full_like(image, 0.5) if high == low else (image - low) / (high - low)


def plot_image_grid(images: Sequence[np.ndarray], path: str, titles: Sequence[str] | None = None, title: str = "",
                    columns: int | None = None, cmap: str | Sequence[str] = "gray", tile_inches: float = 1.3) -> str:
    """Images side by side in a grid, each stretched to its own range (`displayable`) and drawn in `cmap` (one
    for all, or one per image); writes a PNG at `path`."""
    cmaps = [cmap] * len(images) if isinstance(cmap, str) else list(cmap)
    if len(images) == 0:
        raise ValueError(f"no images to draw for {path}")
    columns = columns or min(len(images), max(1, int(np.ceil(np.sqrt(len(images))))))
    rows = -(-len(images) // columns)
    width = max(columns * tile_inches, MIN_WIDTH_INCHES)
    fig = Figure(figsize=(width, rows * tile_inches + (0.5 if title else 0)), layout="constrained")
    axes = np.asarray(fig.subplots(rows, columns, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(displayable(images[i]), cmap=cmaps[i], interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    _suptitle(fig, title, width)
    return save_png(fig, path)


def _suptitle(fig: Figure, title: str, width_inches: float) -> None:
    """The figure's title, wrapped to its width (about 11 characters an inch at 9 points)."""
    if title:
        fig.suptitle(textwrap.fill(title, max(20, int(11 * width_inches))), fontsize=9)


def upsample(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A coarse (h, w) map stretched bilinearly to `shape` (H, W), as Grad-CAM and occlusion maps are drawn over
    the image they explain (jax.image.resize; edges are aligned as half-pixel centres)."""
    import jax

    return np.asarray(jax.image.resize(np.asarray(heatmap, np.float32), shape, "bilinear"))


def plot_overlays(images: Sequence[np.ndarray], heatmaps: Sequence[np.ndarray], path: str,
                  titles: Sequence[str] | None = None, title: str = "", cmap: str = "jet") -> str:
    """One column per image: the image above, the heatmap (upsampled to the image) drawn half-transparent over
    it in grey below; writes a PNG at `path`."""
    if len(images) != len(heatmaps) or not images:
        raise ValueError(f"need one heatmap per image, got {len(images)} images and {len(heatmaps)} heatmaps")
    width = max(1.6 * len(images), MIN_WIDTH_INCHES)
    fig = Figure(figsize=(width, 3.4 + (0.5 if title else 0)), layout="constrained")
    axes = fig.subplots(2, len(images), squeeze=False)
    for i, (image, heatmap) in enumerate(zip(images, heatmaps)):
        shown = displayable(image)
        grey = shown if shown.ndim == 2 else shown.mean(-1)
        for ax in axes[:, i]:
            ax.set_axis_off()
        axes[0, i].imshow(shown, cmap="gray", interpolation="nearest")
        axes[1, i].imshow(grey, cmap="gray", interpolation="nearest")
        axes[1, i].imshow(displayable(upsample(heatmap, grey.shape)), cmap=cmap, alpha=0.5, interpolation="nearest")
        if titles is not None:
            axes[0, i].set_title(titles[i], fontsize=7)
    _suptitle(fig, title, width)
    return save_png(fig, path)
