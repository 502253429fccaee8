"""Per-layer shapes, parameters and MACs, against hand counts and XLA's own cost analysis."""

import json
import subprocess
import sys
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

import cnn.layers
import cnn.models
from cnn.analysis import format_summary, summarize, summarize_module, summary_json
from cnn.layers import fast_paths

ROOT = Path(__file__).resolve().parents[2]

# LeNet-5 at 28×28 (C1 padded by 2), by hand: output positions × fan-in per layer.
LENET5_MACS = {"c1": 28 * 28 * 6 * 25, "c3": 10 * 10 * 16 * 6 * 25, "c5": 120 * 16 * 25, "f6": 84 * 120,
               "output": 10 * 84}


def test_lenet5_rows_match_the_hand_count():
    summary = summarize("lenet5")
    assert [r.layer for r in summary.rows] == list(LENET5_MACS)
    assert {r.layer: r.macs for r in summary.rows} == LENET5_MACS
    assert [r.output_shape for r in summary.rows] == [(28, 28, 6), (10, 10, 16), (1, 1, 120), (84,), (10,)]
    assert [r.params for r in summary.rows] == [156, 2_416, 48_120, 10_164, 850]
    assert summary.params == 61_706 and summary.macs == sum(LENET5_MACS.values()) == 416_520


def test_total_flops_agree_with_xla_cost_analysis():
    # XLA counts 2 FLOPs per multiply-accumulate of convolutions and dots, but skips the taps that
    # fall on C1's zero padding, and adds elementwise work (bias, ReLU, pooling) that the papers'
    # convention leaves out: the two differ by well under 1%, a factor of 2 would show. The plain
    # primitives: the CPU fast paths' multiply-adds over padded slices count the padding taps too.
    model = cnn.models.create("lenet5", num_classes=10)
    x = jnp.zeros((1, 28, 28, 1))
    variables = model.init(jax.random.key(0), x)
    with fast_paths.plain():
        cost = jax.jit(lambda v, x: model.apply(v, x)[0]).lower(variables, x).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    ours = summarize("lenet5").flops
    assert ours == pytest.approx(cost["flops"], rel=0.01)


def test_text_table_and_json_lines():
    summary = summarize("lenet5")
    text = format_summary(summary)
    assert "c3      Conv   10×10×16   2,416  240,000" in text
    assert text.splitlines()[-1] == "lenet5 at 28×28×1: 61,706 trainable parameters, 0.42 MMACs (0.83 MFLOPs) per image"
    objects = summary_json(summary)
    assert objects[0] == {"layer": "c1", "type": "Conv", "output_shape": [28, 28, 6], "params": 156,
                          "macs": 117_600, "flops": 235_200}
    assert objects[-1] == {"model": "lenet5", "input_shape": [28, 28, 1], "params": 61_706, "macs": 416_520,
                           "flops": 833_040}


def test_bad_depth_and_unknown_model_are_refused():
    with pytest.raises(ValueError, match="depth .* at least 1"):
        summarize("lenet5", depth=0)
    with pytest.raises(ValueError, match="Did you mean 'lenet5'"):
        summarize("lenet6")


def test_cli_prints_json_lines():
    out = subprocess.run([sys.executable, "launch.py", "summary", "--model", "lenet5", "--json"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o.get("layer") for o in objects[:-1]] == list(LENET5_MACS)
    assert objects[-1]["params"] == 61_706


def test_cli_names_a_bad_input_size():
    result = subprocess.run([sys.executable, "launch.py", "summary", "--model", "lenet5", "--input-size", "32"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and "c1_padding=0" in result.stderr


def test_partially_connected_c3_counts_only_its_connections():
    # LeNet-5 (1998): C3's 16 maps see 60 of the 96 (map, S2 map) pairs: 10·10 positions × 60 · 25.
    macs = {r.layer: r.macs for r in summarize("lenet5_1998").rows}
    assert macs["c3"] == 10 * 10 * 60 * 25
    assert macs["c1"] == LENET5_MACS["c1"] and macs["c5"] == LENET5_MACS["c5"]


class _Decoder(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = cnn.layers.ConvTranspose(4, (3, 3), stride=2, name="up")(x)
        return cnn.layers.LocallyConnected2D(2, (2, 2), name="local")(x), {}


def test_any_module_transposed_and_locally_connected_layers():
    summary = summarize_module(_Decoder(), (5, 5, 3))
    rows = {r.layer: r for r in summary.rows}
    # Transposed: each of the 5·5·3 input values meets 3·3·4 weights. Locally connected: each of
    # its 10·10 · (2·2·4) · 2 weights is used once.
    assert rows["up"].output_shape == (11, 11, 4) and rows["up"].macs == 5 * 5 * 3 * 9 * 4
    assert rows["local"].output_shape == (10, 10, 2) and rows["local"].macs == 10 * 10 * 16 * 2
    assert summary.params == (3 * 3 * 4 * 3 + 4) + (10 * 10 * 16 * 2 + 10 * 10 * 2)
