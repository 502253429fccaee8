"""Pictures of receptive fields: a unit's effective field against its theoretical square, and how fields
grow with depth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from cnn.analysis.effective_field import EffectiveField
from cnn.viz.plots import save_png


def plot_effective_field(erf: EffectiveField, path: str, title: str = "") -> str:
    """The gradient magnitude as a heatmap, the theoretical field as a green square and the 50%/95% mass
    radii as dashed squares, all around the unit's theoretical centre; writes a PNG at `path`."""
    if erf.gradient.ndim != 2:
        raise ValueError(f"can only draw a 2-D input's field, got a gradient of shape {erf.gradient.shape}")
    fig = Figure(figsize=(6, 5.2), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(erf.gradient / erf.gradient.max(), cmap="magma", origin="upper")
    fig.colorbar(image, ax=ax, label="|∂ unit / ∂ input|, relative")
    (top, bottom), (left, right) = erf.theoretical.bounds(erf.unit)
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False, color="tab:green",
                           lw=2, label=f"theoretical {erf.theoretical.size[0]}×{erf.theoretical.size[1]}"))
    cy, cx = erf.center
    for radius, style, fraction in ((erf.radius50, "--", 50), (erf.radius95, ":", 95)):
        ax.add_patch(Rectangle((cx - radius - 0.5, cy - radius - 0.5), 2 * radius + 1, 2 * radius + 1, fill=False,
                               color="cyan", ls=style, lw=1.2, label=f"{fraction}% of the mass: radius {radius:g}"))
    h, w = erf.gradient.shape
    margin = 0.04 * max(right - left, bottom - top, h, w)  # the square often reaches past the image
    ax.set_xlim(min(left, 0) - margin, max(right, w - 1) + margin)
    ax.set_ylim(max(bottom, h - 1) + margin, min(top, 0) - margin)
    ax.set_facecolor("0.85")
    ax.legend(loc="lower left", fontsize=7, framealpha=0.6)
    ax.set_title(title or f"effective receptive field of {erf.layer}, unit {erf.unit}", fontsize=9)
    return save_png(fig, path)


def plot_field_growth(series: Mapping[str, Sequence[tuple[int, float]]], path: str, title: str = "",
                      input_size: int | None = None) -> str:
    """Receptive-field size against depth (convolution/pooling layers passed), one line per network, with
    the input's size as a dashed line when given."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for name, points in series.items():
        depth, size = np.asarray(points, dtype=float).T
        ax.plot(depth, size, "o-", markersize=3, label=name)
    if input_size:
        ax.axhline(input_size, color="0.4", ls="--", lw=1, label=f"input ({input_size} px)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("depth (convolutions and pools with a spatial window, longest path)")
    ax.set_ylabel("receptive field (pixels)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title or "receptive field against depth")
    return save_png(fig, path)
