"""The published-results tables: every config's target, and what a workdir reached against it, by hand."""

import json
import os
import runpy

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPRODUCE = runpy.run_path(os.path.join(ROOT, "experiments", "reproduce.py"))
CONFIGS = [c for dataset in REPRODUCE["DATASETS"] for c in REPRODUCE["configs"](dataset)]


@pytest.mark.parametrize("path", CONFIGS)
def test_every_config_states_its_target_and_workdir(path):
    target = REPRODUCE["published"](path)
    assert target["top1"] is None or 0.5 < target["top1"] < 1.0
    assert target["source"]
    assert REPRODUCE["workdir"](path).startswith("runs/")


def test_a_finished_workdir_becomes_a_row_with_its_gap(tmp_path):
    run = tmp_path / "runs" / "fashion_mnist_lenet5"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"num_epochs": 15, "num_train_steps": 0}))
    (run / "machine.json").write_text(json.dumps({"cpu": "Test CPU", "cores": 2, "devices": "1× cpu",
                                                  "date": "2026-11-24T09:00:00+00:00"}))
    records = [{"split": "test", "step": 469 * e, "epoch": e, "top1": top1, "wall_s": 8.0 * e}
               for e, top1 in ((5, 0.905), (15, 0.9107))]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    results_path = tmp_path / "results.json"
    results_path.write_text(json.dumps({"experiments/cifar10/resnet56.py": {"kept": True}}))
    for _ in range(2):  # idempotent
        results = REPRODUCE["collect"](str(tmp_path), str(results_path))
    assert results["experiments/cifar10/resnet56.py"] == {"kept": True}  # gathered elsewhere, kept
    row = results["experiments/fashion_mnist/lenet5.py"]
    assert row == {"top1": 0.9107, "best_top1": 0.9107, "epochs": 15, "planned_epochs": 15, "wall_s": 120.0,
                   "machine": "Test CPU (2 cores)", "date": "2026-11-24"}
    table = REPRODUCE["results_table"]("fashion_mnist", str(results_path))
    # 91.07 against the benchmark's 91.6: -0.53 points
    assert ("| `experiments/fashion_mnist/lenet5.py` | `lenet5` | 91.60 | 2-conv CNN, Fashion-MNIST benchmark table | "
            "91.07 | -0.53 | 15 | 2.0 min | Test CPU (2 cores), 2026-11-24 |") in table
    assert "| `experiments/fashion_mnist/lenet5_1998.py` | `lenet5_1998` | – |" in table
    assert table.count("not run yet") == len(REPRODUCE["configs"]("fashion_mnist")) - 1


def test_a_config_without_its_target_or_workdir_is_named(tmp_path, monkeypatch):
    config = tmp_path / "experiments" / "x" / "bare.py"
    config.parent.mkdir(parents=True)
    config.write_text('"""No command here."""\n\ndef get_config():\n    return None\n')
    monkeypatch.setitem(REPRODUCE["published"].__globals__, "ROOT", str(tmp_path))
    with pytest.raises(ValueError, match=r"bare.py: define PUBLISHED = \{\"top1\""):
        REPRODUCE["published"]("experiments/x/bare.py")
    with pytest.raises(ValueError, match="bare.py: its docstring shows no `--workdir DIR`"):
        REPRODUCE["workdir"]("experiments/x/bare.py")
