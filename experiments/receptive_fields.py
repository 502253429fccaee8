r"""The notes' receptive-field design rules, and how fields grow through four classic networks, all traced
from the networks' own operations (`cnn.analysis`), none typed by hand.

    python experiments/receptive_fields.py   # prints both tables, writes docs/receptive_fields.png

What it shows (README, "Receptive fields"): three stacked 3×3 convolutions see the 7×7 of one 7×7 with 27
instead of 49 weights per channel pair and three ReLUs instead of one; the fields of AlexNet, VGG-16,
GoogLeNet and ResNet-50 grow to 195, 212, 715 and 427 pixels. The first two equal Araujo et al.'s
TF-slim table (alexnet_v2, vgg_16); VGG-16's final units still do not see the whole 224×224 image.
"""

from __future__ import annotations

import os
import sys

import flax.linen as nn
import jax

from cnn.analysis import analyze, receptive_fields, summarize_module, trace_fields
from cnn.analysis.report import depth_series

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLOT = os.path.join(ROOT, "docs", "receptive_fields.png")

# (design, layers): each layer is (kernel (h, w), dilation) or "pool" for a 2×2/2 max pool.
DESIGNS = [
    ("one 7×7", [((7, 7), 1)]),
    ("three 3×3 (VGG)", [((3, 3), 1)] * 3),
    ("one 5×5", [((5, 5), 1)]),
    ("two 3×3", [((3, 3), 1)] * 2),
    ("1×7 then 7×1 (Inception v3)", [((1, 7), 1), ((7, 1), 1)]),
    ("3×3 at dilation 2", [((3, 3), 2)]),
    ("3×3 at dilation 3", [((3, 3), 3)]),
    ("2×2/2 pool, then 3×3", ["pool", ((3, 3), 1)]),
]
NETWORKS = [("AlexNet", "alexnet_2012"), ("VGG-16", "vgg16"), ("GoogLeNet", "googlenet_2014"), ("ResNet-50", "resnet50")]


class Design(nn.Module):
    """One input and one output channel through `layers`, so parameters are weights per channel pair."""

    layers: tuple

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        for i, layer in enumerate(self.layers):
            if layer == "pool":
                x = nn.max_pool(x, (2, 2), (2, 2))
            else:
                kernel, dilation = layer
                x = nn.relu(nn.Conv(1, kernel, kernel_dilation=dilation, use_bias=False, name=f"conv{i}")(x))
        return Out(name="out")(x)


class Out(nn.Module):
    """Marks the design's output, so the tracer reports its field."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return x


def design_rules_table() -> str:
    rows = ["| design | receptive field | weights per channel pair | ReLUs |", "| --- | ---: | ---: | ---: |"]
    for name, layers in DESIGNS:
        module = Design(tuple(layers))
        field = trace_fields(module, (32, 32, 1)).layers["out"]
        weights = summarize_module(module, (32, 32, 1)).params
        relus = sum(layer != "pool" for layer in layers)
        rows.append(f"| {name} | {field.size[0]}×{field.size[1]} | {weights} | {relus} |")
    return "\n".join(rows)


def growth_table() -> str:
    rows = ["| network | input | windows on the longest path | final feature layer | field | stride | padding "
            "| centre unit sees the input | field at each tap |", "| --- | --- | ---: | --- | ---: | ---: | ---: | --- | --- |"]
    for title, name in NETWORKS:
        report, fields = analyze(name), receptive_fields(name)
        f = report.final.field
        sizes = [t.size[0] for t in fields.taps.values() if t.spatial]
        growth = " → ".join(str(s) for i, s in enumerate(sizes) if i == 0 or s != sizes[i - 1])
        rows.append(f"| {title} (`{name}`) | {report.input_shape[0]}×{report.input_shape[1]} | {f.depth} | "
                    f"`{report.final.layer}` | {f.size[0]} | {f.stride[0]} | {f.padding[0]} | "
                    f"{'yes' if report.covers_input else 'no'} | {growth} |")
    return "\n".join(rows)


def write_plot(path: str = PLOT) -> str:
    from cnn.viz.fields import plot_field_growth

    series = {title: depth_series(receptive_fields(name)) for title, name in NETWORKS}
    return plot_field_growth(series, path, "receptive field against depth, traced at 224×224 (AlexNet 227×227)",
                             input_size=224)


if __name__ == "__main__":
    print(design_rules_table(), growth_table(), sep="\n\n")
    if "--no-plot" not in sys.argv[1:]:
        print(f"wrote {write_plot()}")
