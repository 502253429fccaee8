"""The PyTorch twins are cnn's models exactly, and the side-by-side runner measures, records and renders both."""

import json
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

import benchmarks
from benchmarks import compare
from cnn import models

SHAPES = {"lenet5": (28, 28, 1), "resnet20_cifar": (32, 32, 3), "resnet18": (64, 64, 3)}


def _cnn_variables(name: str, abstract: bool = False) -> dict:
    module = models.create(name, num_classes=10)
    init = lambda: module.init(jax.random.key(0), jnp.zeros((1, *SHAPES[name])), train=False)  # noqa: E731
    return jax.eval_shape(init) if abstract else init()


@pytest.mark.parametrize("name", SHAPES)
def test_twin_has_cnns_parameter_count(name):
    torch_models = pytest.importorskip("benchmarks.torch_models")
    cnn_params = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(_cnn_variables(name, abstract=True)["params"]))
    assert sum(p.numel() for p in torch_models.create(name).parameters()) == cnn_params


def _load_cnn_params(twin, params: dict) -> None:
    """cnn's parameters into the twin: a/b/kernel is a.b.weight (HWIO → OIHW, Dense transposed), scale is weight."""
    import torch

    state = {}
    for path, value in flatten_dict(params).items():
        value = np.array(value)  # a writable copy: torch will not wrap a read-only buffer
        if path[-1] == "kernel":
            value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
        leaf = "bias" if path[-1] == "bias" else "weight"
        state[".".join((*path[:-1], leaf))] = torch.from_numpy(np.ascontiguousarray(value))
    missing, unexpected = twin.load_state_dict(state, strict=False)
    assert not unexpected
    # Only BN's running statistics stay torch's (mean 0, variance 1, like cnn's at init).
    assert all(key.rsplit(".", 1)[1] in ("running_mean", "running_var", "num_batches_tracked") for key in missing)


@pytest.mark.parametrize("name", SHAPES)
def test_twin_computes_cnns_function_with_cnns_weights(name):
    torch_models = pytest.importorskip("benchmarks.torch_models")
    import torch

    variables = _cnn_variables(name)
    twin = torch_models.create(name).train()
    _load_cnn_params(twin, variables["params"])
    images = np.random.default_rng(0).normal(size=(4, *SHAPES[name])).astype(np.float32)
    # Training mode: BN normalises with the batch's statistics in both.
    (logits, _), _ = models.create(name, num_classes=10).apply(variables, images, train=True,
                                                               mutable=["batch_stats"])
    with torch.no_grad():
        torch_logits = twin(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(torch_logits, np.asarray(logits), atol=1e-4, rtol=1e-4)


def _check_quick_results(results: dict, path, with_torch: bool) -> None:
    assert json.loads(path.read_text()) == results
    assert set(results["machine"]) == {"cpu", "cores", "devices", "platform", "python", "jax", "flax", "torch",
                                       "date", "load_average"}
    assert results["rounds"] == 2 and results["quick"] and results["peak_rss_mb"] > 0
    (case,) = results["cases"]
    assert case["model"] == "lenet5" and case["input_shape"] == [28, 28, 1]
    assert case["batch_size"] == compare.QUICK_BATCH and case["cnn_compile_s"] > 0
    assert len(case["cnn_rounds"]) == 2 and min(case["cnn_rounds"]) > 0
    assert case["cnn_images_per_s"] == pytest.approx(np.median(case["cnn_rounds"]))
    if with_torch:
        assert results["machine"]["torch"]
        assert len(case["torch_rounds"]) == 2 and min(case["torch_rounds"]) > 0
        assert case["torch_images_per_s"] == pytest.approx(np.median(case["torch_rounds"]))
        assert case["ratio"] == pytest.approx(case["cnn_images_per_s"] / case["torch_images_per_s"])
        assert case["torch_memory_format"] in ("NCHW", "channels_last")
    else:
        assert results["machine"]["torch"] is None
        assert [case[k] for k in ("torch_images_per_s", "ratio", "torch_rounds", "torch_memory_format")] == [None] * 4


def test_quick_run_with_torch_writes_both_frameworks_figures(tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "results.json"
    results = compare.main(["--models", "lenet5", "--rounds", "2", "--quick", "--json", str(path)])
    _check_quick_results(results, path, with_torch=True)


def test_quick_run_without_torch_still_measures_cnn(tmp_path, monkeypatch, capsys):
    # As where torch is not installed: importing it fails.
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "benchmarks.torch_models", raising=False)
    monkeypatch.delattr(benchmarks, "torch_models", raising=False)
    path = tmp_path / "results.json"
    results = compare.main(["--models", "lenet5", "--rounds", "2", "--quick", "--json", str(path)])
    _check_quick_results(results, path, with_torch=False)
    assert "torch is not installed: measuring cnn only" in capsys.readouterr().err


def test_unknown_model_names_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        compare.main(["--models", "lenet5,resnet19"])
    assert ("--models: unknown model 'resnet19'. Did you mean 'resnet18'? Known models: lenet5, resnet18, "
            "resnet20_cifar") in capsys.readouterr().err


MACHINE = {"cpu": "Test CPU", "cores": 2, "platform": "Linux-test", "python": "3.11.7", "jax": "0.10.2",
           "flax": "0.12.8", "torch": "2.13.0+cpu", "date": "2026-01-02T03:04:05+00:00", "load_average": 0.1}
CASE = {"model": "lenet5", "input_shape": [28, 28, 1], "batch_size": 256, "num_classes": 10,
        "cnn_images_per_s": 12345.6, "torch_images_per_s": 10000.0, "ratio": 1.23456, "cnn_rounds": [12345.6],
        "torch_rounds": [10000.0], "torch_memory_format": "channels_last", "cnn_compile_s": 1.0}


def test_results_table_renders_the_json_and_says_when_there_is_none(tmp_path):
    path = tmp_path / "results.json"
    no_torch = {**CASE, "model": "resnet18", "input_shape": [64, 64, 3], "batch_size": 64, "cnn_images_per_s": 99.4,
                **dict.fromkeys(("torch_images_per_s", "ratio", "torch_rounds", "torch_memory_format"))}
    path.write_text(json.dumps({"machine": MACHINE, "rounds": 7, "quick": False, "peak_rss_mb": 900.0,
                                "cases": [CASE, no_torch]}))
    assert compare.results_table(str(path)).splitlines() == [
        "| model | input | batch | cnn images/s | PyTorch images/s | cnn / PyTorch |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        "| `lenet5` | 28×28×1 | 256 | 12,346 | 10,000 (channels_last) | 1.23 |",
        "| `resnet18` | 64×64×3 | 64 | 99 | — | — |",
        "",
        "Median of 7 alternating rounds, float32, on Test CPU (2 cores), Linux-test, Python 3.11.7, jax 0.10.2, "
        "flax 0.12.8, torch 2.13.0+cpu (eager); 2026-01-02.",
    ]
    assert compare.results_table(str(tmp_path / "missing.json")) == (
        "No figures yet: run `.venv/bin/python -m benchmarks.compare` to measure them.")
