"""benchmarks.conv_layers times the same three computations in both frameworks, and records and renders them."""

import json

import jax
import numpy as np
import pytest
from jax import lax

from benchmarks import compare, conv_layers
from cnn.layers import fast_paths

SMALL = {"3x3 padded": (3, 8, 5, 7, 3, 1), "5x5 valid": (2, 9, 6, 4, 5, 0)}


def _plain_parts(layer):
    """The three parts by the plain primitive and jax.vjp, NHWC: the reference both frameworks must meet."""
    x, w, g = conv_layers._arrays(layer)
    pad = layer[5]
    with fast_paths.plain():
        conv = lambda a, b: lax.conv_general_dilated(a, b, (1, 1), [(pad, pad)] * 2,  # noqa: E731
                                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        y, vjp = jax.vjp(conv, x, w)
        dx, dw = vjp(g)
    return {"forward": y, "input gradient": dx, "kernel gradient": dw}


@pytest.mark.parametrize("layer", SMALL.values(), ids=SMALL)
def test_cnns_parts_are_the_convolution_and_its_gradients(layer):
    reference = _plain_parts(layer)
    for part, call in conv_layers.cnn_parts(layer).items():
        np.testing.assert_allclose(call(), reference[part], rtol=1e-4, atol=1e-4, err_msg=part)


@pytest.mark.parametrize("memory_format", ["NCHW", "channels_last"])
@pytest.mark.parametrize("layer", SMALL.values(), ids=SMALL)
def test_pytorchs_parts_compute_the_same(layer, memory_format):
    pytest.importorskip("torch")
    reference = _plain_parts(layer)
    layouts = {"forward": (0, 2, 3, 1), "input gradient": (0, 2, 3, 1), "kernel gradient": (2, 3, 1, 0)}
    for part, call in conv_layers.torch_parts(layer, memory_format).items():
        np.testing.assert_allclose(call().numpy().transpose(layouts[part]), reference[part], rtol=1e-4, atol=1e-4,
                                   err_msg=part)


def test_multiply_adds_by_hand():
    # ResNet-20 stage 1: 128 images × 32² outputs × 9 taps × 16 × 16 channels.
    assert conv_layers.multiply_adds(conv_layers.LAYERS["resnet20 stage 1"]) == 128 * 1024 * 9 * 256
    # LeNet C3 at batch 256: 10×10 outputs of 5×5×6 taps into 16 channels.
    assert conv_layers.multiply_adds(conv_layers.LAYERS["lenet5 C3"]) == 256 * 100 * 25 * 6 * 16


def test_quick_run_records_and_renders(tmp_path, monkeypatch):
    monkeypatch.setattr(compare, "_torch_models", lambda: None)  # as in CI: cnn only
    path = tmp_path / "conv.json"
    results = conv_layers.main(["--layers", "lenet5 C3", "--rounds", "2", "--quick", "--json", str(path)])
    assert json.loads(path.read_text()) == results
    (layer,) = results["layers"]
    assert layer["batch"] == conv_layers.QUICK_BATCH and list(layer["parts"]) == list(conv_layers.PARTS)
    for figures in layer["parts"].values():
        assert len(figures["cnn_rounds"]) == 2 and figures["cnn_ms"] > 0 and figures["torch_ms"] is None
    lines = conv_layers.results_table(str(path)).splitlines()
    assert lines[2].startswith("| lenet5 C3 | 4 | 14×14×6 → 16, 5×5 | forward | ")
    assert lines[2].endswith(" | — | — |") and "A `--quick` smoke run" in lines[-1]


def test_results_table_by_hand(tmp_path):
    machine = {"cpu": "Test CPU", "cores": 2, "jax": "0.10.2", "torch": "2.13.0+cpu",
               "date": "2026-01-02T03:04:05+00:00", "load_average": 0.1}
    part = {"cnn_ms": 2.0, "torch_ms": 1.0, "ratio": 0.5, "cnn_rounds": [2.0], "torch_rounds": [1.0]}
    layer = {"layer": "resnet20 stage 3", "batch": 128, "input": [8, 8, 64], "output_channels": 64, "kernel": 3,
             "padding": 1, "multiply_adds": 10**9, "torch_memory_format": "channels_last",
             "parts": {"forward": part}}
    path = tmp_path / "conv.json"
    path.write_text(json.dumps({"machine": machine, "rounds": 7, "quick": False, "layers": [layer]}))
    assert conv_layers.results_table(str(path)).splitlines()[2:] == [
        "| resnet20 stage 3 | 128 | 8×8×64 → 64, 3×3 | forward | 2.00 (1000) | 1.00 (2000) | 0.50 |",
        "",
        "Median of 7 alternating rounds, float32, on Test CPU (2 cores), jax 0.10.2, torch 2.13.0+cpu; 2026-01-02.",
    ]
    assert "python -m benchmarks.conv_layers" in conv_layers.results_table(str(tmp_path / "none.json"))


def test_unknown_layer_names_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        conv_layers.main(["--layers", "resnet20 stage 4"])
    assert "--layers: unknown layer 'resnet20 stage 4'" in capsys.readouterr().err
