"""The analyze report: summary and fields joined, the final layer, coverage, warnings, JSON and the CLI."""

import json
import os
import subprocess
import sys

import flax.linen as nn
import pytest

from cnn.analysis import analyze, analyze_module, format_report, receptive_fields, report_json
from cnn.analysis.receptive_field import Field
from cnn.analysis.report import covers, depth_series

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS = {"layer", "output_shape", "params", "flops", "rf_size", "rf_stride", "rf_padding"}


def _launch(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=300)


def test_vgg16_json_rows_and_summary():
    rows = report_json(analyze("vgg16"))
    *layers, summary = rows
    assert all(KEYS <= set(r) for r in rows)
    conv = next(r for r in layers if r["layer"] == "conv1_2")
    assert (conv["rf_size"], conv["rf_stride"], conv["rf_padding"]) == ([5, 5], [1, 1], [2, 2])
    assert conv["params"] == 64 * 64 * 9 + 64 and conv["flops"] == 2 * 224 * 224 * 64 * 64 * 9
    assert conv["rf_center"] == [0, 0]  # unit 0 of a padded 5×5 centres on pixel 0
    assert summary["layer"] == "tap:stage5" and summary["rf_size"] == [212, 212] and summary["output_shape"] == [7, 7, 512]
    assert summary["covers_input"] is False and summary["params"] == 138_357_544 and summary["warnings"] == []
    assert json.loads(json.dumps(rows)) == rows


def test_coverage_of_the_centre_unit():
    field = Field((7, 7), (2, 2), (3, 3), True, True, False)
    assert covers(field, (3, 3, 8), (5, 5, 1))  # unit 1 sees [-1, 5] ⊇ [0, 4]
    assert not covers(field, (3, 3, 8), (7, 7, 1))
    assert covers(Field((3, 3), (1, 1), (1, 1), True, True, True), (7, 7, 2), (7, 7, 1))  # a global gate
    assert covers(Field((7, 7), (7, 7), (0, 0), False, True, False), (10,), (7, 7, 1))


def test_warnings_for_small_large_and_misaligned_fields():
    class Small(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            return nn.Conv(4, (3, 3), name="conv")(x)

    small = analyze_module(Small(), (32, 32, 3))
    assert not small.covers_input and any(w.startswith("small field: conv sees 3×3") for w in small.warnings)
    large = analyze("resnet56_cifar")
    assert large.covers_input and large.final.layer == "tap:stage3"
    assert [w.split(":")[0] for w in large.warnings] == ["large field"]
    nasnet = analyze("nasnet_a_mobile")
    assert any(w.startswith("misaligned paths at 36 merges") for w in nasnet.warnings)
    assert analyze("resnet50").warnings == ()


def test_text_report_lists_layers_taps_and_the_final_layer():
    text = format_report(analyze("lenet5"))
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "type", "output", "params", "MACs", "RF", "stride", "padding"]
    assert lines[1].split() == ["c1", "Conv", "28×28×6", "156", "117,600", "5", "1", "2"]
    assert "final feature layer tap:c5: field 32, stride 4, padding 2; the centre unit sees the whole input" in text


def test_depth_series_counts_vggs_thirteen_convolutions_and_five_pools():
    series = depth_series(receptive_fields("vgg16"))
    assert len(series) == 18 and series[-1] == (18, 212) and series[0] == (1, 3)


def test_cli_json_lines():
    proc = _launch("analyze", "--model", "alexnet_2012", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows[-1]["layer"] == "tap:pool5" and rows[-1]["rf_padding"] == [64, 64] and rows[-1]["summary"]
    assert all(KEYS <= set(r) for r in rows)


def test_cli_plots_the_effective_field_of_a_trained_checkpoint(tmp_path, shared_tiny_data_dir):
    workdir = tmp_path / "run"
    config = os.path.join(ROOT, "experiments", "fashion_mnist", "lenet5.py")
    proc = _launch("train", f"--config={config}", f"--workdir={workdir}", "--config.batch_size=16",
                   f"--config.dataset.data_dir={shared_tiny_data_dir}", "--config.num_train_steps=4", "--config.schedule.warmup_epochs=0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = _launch("analyze", f"--checkpoint={workdir}", "--json", f"--plot={tmp_path / 'plots'}", "--samples=4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["model"] == "lenet5" and summary["erf_layer"] == "tap:c5" and summary["erf_samples"] == 4
    assert 0 <= summary["erf_radius50"] <= summary["erf_radius95"] <= 16
    for name in ("effective_field.png", "receptive_field.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proc = _launch("analyze", f"--checkpoint={workdir}", "--model=vgg16")
    assert proc.returncode == 1 and "trained lenet5" in proc.stderr


@pytest.mark.parametrize("args, message", [
    ((), "analyze needs --model NAME or --checkpoint WORKDIR"),
    (("--model=lenet6",), "lenet5"),
    (("--checkpoint=/nonexistent",), "holds no config.json"),
])
def test_cli_errors(args, message):
    proc = _launch("analyze", *args)
    assert proc.returncode != 0 and message in proc.stderr
