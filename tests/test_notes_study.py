"""The notes' study runner: from workdirs to results.json, the PNG and the README table, checked by hand."""

import json
import os
import runpy

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUDY = runpy.run_path(os.path.join(ROOT, "experiments", "notes", "study.py"))
MACHINE = {"cpu": "Test CPU", "cores": 2, "devices": "1× cpu", "date": "2026-11-24T10:00:00+00:00"}


def _fake_run(root, study, label, top1s, test_top1, learning_rate, epochs=4, steps_per_epoch=5, mixup=0.0):
    """A workdir as train_and_evaluate leaves it: train windows every step, one final test record."""
    workdir = root / study / label
    workdir.mkdir(parents=True)
    config = {"num_epochs": epochs, "num_train_steps": -1, "optimizer": {"learning_rate": learning_rate},
              "augment": {"mixup": mixup}}
    (workdir / "config.json").write_text(json.dumps(config))
    (workdir / "machine.json").write_text(json.dumps(MACHINE))
    records = [{"split": "train", "step": s, "epoch": s / steps_per_epoch, "loss": 1 - t, "top1": t, "wall_s": s}
               for s, t in enumerate(top1s, start=1)]
    records.append({"split": "test", "step": len(top1s), "epoch": len(top1s) / steps_per_epoch, "top1": test_top1,
                    "loss": 0.5, "wall_s": len(top1s) + 0.5})
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _activation_runs(root):
    rising = {  # train top-1 per step, 20 steps (4 epochs of 5)
        ("relu", 0.01): [0.5] * 5 + [0.8] * 10 + [0.95] * 5,  # 25% error at step 6, 10% at 16
        ("relu", 0.03): [0.5] * 3 + [0.8] * 7 + [0.92] * 10,  # 25% at step 4 (its fastest), 10% at 11
        ("relu", 0.1): [0.5] * 20,
        ("tanh", 0.01): [0.5] * 19 + [0.8],  # 25% at 20
        ("tanh", 0.03): [0.5] * 11 + [0.8] * 9,  # 25% at 12: 3× relu's 4; never 10%
        ("tanh", 0.1): [0.1] * 20,
        ("deep_relu", 0.1): [0.5] + [0.8] * 19,  # the deep net: 25% at step 2; tanh never
        ("deep_tanh", 0.1): [0.5] * 20,
    }
    for (unit, lr), top1s in rising.items():
        _fake_run(root, "activation", f"{unit}_lr{lr}", top1s, test_top1=top1s[-1] - 0.05, learning_rate=lr)


def test_collect_summarises_each_run_and_the_table_gives_the_speed_up_by_hand(tmp_path):
    _activation_runs(tmp_path / "runs")
    results_path, figures = tmp_path / "results.json", tmp_path / "figures"
    results = STUDY["collect"](["activation"], str(tmp_path / "runs"), str(results_path), str(figures))
    rows = {r["label"]: r for r in results["activation"]["runs"]}
    assert rows["relu_lr0.03"]["error_steps"] == {"0.25": 4, "0.1": 11}
    assert rows["tanh_lr0.03"]["error_steps"] == {"0.25": 12, "0.1": None}
    assert rows["relu_lr0.01"]["test_top1"] == pytest.approx(0.90) and rows["relu_lr0.01"]["train_top1"] == 0.95
    assert rows["relu_lr0.01"]["wall_s"] == 20.5 and not rows["relu_lr0.01"]["diverged"]
    assert (figures / "activation.png").stat().st_size > 10_000

    table = STUDY["study_table"]("activation", str(results_path))
    assert "| `relu_lr0.03` | 0.03 | 4 | 11 | 0.080 | 92.0 | 87.0 | +5.0 | 4 | 20 s |" in table
    assert "| `tanh_lr0.03` | 0.03 | 12 | never |" in table
    assert ("LeNet-5: to 25% training error relu took 4 steps (learning rate 0.03), tanh 12 (0.03): 3.0× as many; "
            "to 10% training error relu took 11 steps; tanh never got there. Deep plain net: to 25% training "
            "error deep_relu took 2 steps; deep_tanh never got there.") in table
    assert "| `deep_tanh_lr0.1` | 0.1 | never | never |" in table
    assert "Test CPU (2 cores), 2026-11-24" in table


def test_collecting_again_gives_the_same_file_and_keeps_other_studies(tmp_path):
    _activation_runs(tmp_path / "runs")
    results_path = tmp_path / "results.json"
    results_path.write_text(json.dumps({"dropout": {"config": "kept", "runs": []}}))
    written = []
    for _ in range(2):
        STUDY["collect"](["activation", "dropout"], str(tmp_path / "runs"), str(results_path), str(tmp_path / "f"))
        written.append(results_path.read_text())
    first = written[0]
    assert written[1] == first
    assert json.loads(first)["dropout"] == {"config": "kept", "runs": []}


def test_a_run_stopped_short_or_non_finite_is_marked_diverged(tmp_path):
    _fake_run(tmp_path, "dropout", "off", [0.5] * 8, test_top1=0.4, learning_rate=0.1)  # 8 of 20 steps
    _fake_run(tmp_path, "dropout", "on", [0.5] * 20, test_top1=0.45, learning_rate=0.1)
    results = STUDY["collect"](["dropout"], str(tmp_path), str(tmp_path / "r.json"), str(tmp_path / "f"))
    rows = {r["label"]: r for r in results["dropout"]["runs"]}
    assert rows["off"]["diverged"] and not rows["on"]["diverged"]
    table = STUDY["study_table"]("dropout", str(tmp_path / "r.json"))
    assert "| `off` | 0.1 | diverged |" in table
    assert "the highest test top-1 is `on`'s 45.0%; `off`, `on` diverged or stayed below 50% test accuracy." in table


def test_every_study_names_runs_its_config_builds(tmp_path):
    from cnn.config import load_config

    for name in STUDY["STUDIES"]:
        study = STUDY["study"](name)
        assert study.runs and study.claim and len({run.label for run in study.runs}) == len(study.runs)
        for run in study.runs:
            config = load_config(f"{os.path.join(ROOT, 'experiments', 'notes', name)}.py:{run.variant}")
            for key in run.overrides:
                parent, _, leaf = key.rpartition(".")
                assert leaf in (config[parent] if parent else config), f"{name}: no config key {key}"


def test_an_unknown_study_or_variant_is_refused_by_name():
    from cnn.config import load_config

    with pytest.raises(SystemExit, match="unknown study 'activations'; the studies are activation, dropout"):
        STUDY["study"]("activations")
    with pytest.raises(ValueError, match="activation.py:sigmoid: give relu, tanh, deep_relu or deep_tanh after"):
        load_config(os.path.join(ROOT, "experiments", "notes", "activation.py:sigmoid"))


def test_the_generic_verdict_names_the_best_run_and_the_gap_range():
    rows = [{"label": "a", "train_top1": 0.99, "test_top1": 0.80, "diverged": False},
            {"label": "b", "train_top1": 0.90, "test_top1": 0.85, "diverged": False},
            {"label": "c", "train_top1": 0.10, "test_top1": 0.10, "diverged": True}]
    assert STUDY["verdict"]("dropout", rows) == (
        "the highest test top-1 is `b`'s 85.0%; the train − test gap runs from +5.0 points (`b`) to +19.0 (`a`); "
        "`c` diverged or stayed below 50% test accuracy.")


def test_mixup_runs_have_no_training_accuracy_to_compare(tmp_path):
    _fake_run(tmp_path, "augmentation", "mixup", [0.5] * 20, test_top1=0.87, learning_rate=0.05, mixup=0.2)
    _fake_run(tmp_path, "augmentation", "none", [1.0] * 20, test_top1=0.86, learning_rate=0.05)
    results = STUDY["collect"](["augmentation"], str(tmp_path), str(tmp_path / "r.json"), str(tmp_path / "f"))
    rows = {r["label"]: r for r in results["augmentation"]["runs"]}
    assert rows["mixup"]["train_top1"] is None and rows["none"]["train_top1"] == 1.0
    table = STUDY["study_table"]("augmentation", str(tmp_path / "r.json"))
    assert "| `mixup` | 0.05 | 0.500 | – | 87.0 | – |" in table
    assert "the highest test top-1 is `mixup`'s 87.0%." in table
