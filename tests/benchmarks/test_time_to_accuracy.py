"""benchmarks.time_to_accuracy times a real `launch.py train` run and finds the first evaluation at the target."""

import json
import os

import pytest

from benchmarks import time_to_accuracy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "experiments", "fashion_mnist", "lenet5.py")


def _tiny(data_dir) -> list[str]:
    return [f"--config.dataset.data_dir={data_dir}", "--config.batch_size=16", "--config.num_train_steps=12",
            "--config.eval_every_steps=4", "--config.log_every_steps=4"]


def test_times_every_evaluation_of_a_real_run_and_writes_the_table(tmp_path, tiny_data_dir, monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    result = time_to_accuracy.measure(CONFIG, target=0.0, overrides=_tiny(tiny_data_dir))
    assert [e["step"] for e in result["evaluations"]] == [4, 8, 12]
    seconds = [e["seconds"] for e in result["evaluations"]]
    assert 0 < seconds[0] < seconds[1] < seconds[2] <= result["total_seconds"]
    assert result["reached"] == result["evaluations"][0]  # any accuracy reaches 0
    assert result["final_top1"] == result["evaluations"][-1]["top1"]
    path = str(tmp_path / "tta.json")
    time_to_accuracy.record(result, path)
    with open(path) as f:
        assert json.load(f) == {"runs": [result]}
    table = time_to_accuracy.results_table(path)
    assert f"| 0.00 | {seconds[0]:.0f} s (epoch {result['evaluations'][0]['epoch']:g}) |" in table


def test_record_keeps_one_row_per_config_and_overrides(tmp_path):
    path = str(tmp_path / "tta.json")
    machine = {"cpu": "AMD EPYC", "cores": 2, "date": "2026-11-24T18:00:00+00:00"}

    def run(config, seconds, overrides=()):
        evaluation = {"step": 10, "epoch": 3.0, "top1": 0.95, "seconds": seconds}
        return {"config": config, "overrides": list(overrides), "target_top1": 0.94, "reached": evaluation,
                "final_top1": 0.95, "total_seconds": seconds + 100, "evaluations": [evaluation], "machine": machine}

    time_to_accuracy.record(run("a.py", 30), path)
    time_to_accuracy.record(run("b.py", 2000), path)
    time_to_accuracy.record(run("a.py", 40, ["--config.seed=1"]), path)
    time_to_accuracy.record(run("a.py", 20), path)  # replaces the first
    rows = time_to_accuracy.results_table(path).splitlines()[2:5]
    assert rows == [
        "| `b.py` | 0.94 | 33.3 min (epoch 3) | 0.9500 | 35.0 min | AMD EPYC (2 cores), 2026-11-24 |",
        "| `a.py --config.seed=1` | 0.94 | 40 s (epoch 3) | 0.9500 | 2.3 min | AMD EPYC (2 cores), 2026-11-24 |",
        "| `a.py` | 0.94 | 20 s (epoch 3) | 0.9500 | 2.0 min | AMD EPYC (2 cores), 2026-11-24 |",
    ]


def test_a_target_never_reached_is_said_and_a_failed_run_raises(tmp_path, tiny_data_dir, monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    result = time_to_accuracy.measure(CONFIG, target=1.01, overrides=_tiny(tiny_data_dir))
    assert result["reached"] is None
    path = str(tmp_path / "tta.json")
    time_to_accuracy.record(result, path)
    assert "not reached (final " in time_to_accuracy.results_table(path)
    with pytest.raises(RuntimeError, match="exited with"):
        time_to_accuracy.measure(CONFIG, overrides=["--config.model.name=no_such_model"])


def test_keep_leaves_the_run_and_refuses_a_used_folder(tmp_path, tiny_data_dir, monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    keep = tmp_path / "run"
    time_to_accuracy.measure(CONFIG, target=0.0, overrides=_tiny(tiny_data_dir), keep=str(keep))
    assert (keep / "metrics.jsonl").exists() and (keep / "config.json").exists()
    with pytest.raises(ValueError, match="is not empty"):
        time_to_accuracy.measure(CONFIG, keep=str(keep))


def test_no_figures_yet_names_the_command(tmp_path):
    assert "python -m benchmarks.time_to_accuracy" in time_to_accuracy.results_table(str(tmp_path / "none.json"))
