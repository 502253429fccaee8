"""Reading a run back from its workdir: what cnn.train.results reports against hand-written and real workdirs."""

import json
import os

import pytest

from cnn.train import train_and_evaluate
from cnn.train.results import RunResultError, read_run
from tests.tiny_runs import tiny_config

pytestmark = pytest.mark.usefixtures("persistent_compilation_cache")  # their runs share programs


def _workdir(tmp_path, records, config=None, machine=None):
    (tmp_path / "config.json").write_text(json.dumps(config or {"num_epochs": 1, "num_train_steps": 0}))
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if machine:
        (tmp_path / "machine.json").write_text(json.dumps(machine))
    return str(tmp_path)


def _train(step, top1, wall_s=None, loss=1.0):
    record = {"split": "train", "step": step, "epoch": step / 10, "loss": loss, "top1": top1}
    return record if wall_s is None else {**record, "wall_s": wall_s}


def test_final_best_first_reaching_and_wall_time_over_resumed_sessions(tmp_path):
    records = [_train(10, 0.5, 4.0), {"split": "test", "step": 10, "epoch": 1.0, "top1": 0.6, "wall_s": 5.0},
               _train(20, 0.8, 9.0),  # killed here; the resumed session counts from 0 again
               _train(20, 0.8, 3.0), {"split": "test", "step": 20, "epoch": 2.0, "top1": 0.55, "wall_s": 3.5},
               _train(30, 0.9, 6.0)]
    result = read_run(_workdir(tmp_path, records))
    assert result.final("top1") == 0.55 and result.best("top1") == 0.6
    assert result.final("top1", split="train") == 0.9
    assert result.wall_s == 9.0 + 6.0
    assert result.steps == 30 and result.epochs == 3.0
    assert result.first_reaching("train", "top1", 0.8)["step"] == 20
    assert result.first_reaching("train", "top1", 0.95) is None
    assert result.first_reaching("test", "top1", 0.58, below=True)["step"] == 20
    assert result.machine is None


@pytest.mark.parametrize("config, planned", [({"num_epochs": 4, "num_train_steps": 0}, 40),
                                             ({"num_epochs": 4, "num_train_steps": 25}, 25)])
def test_planned_steps_come_from_the_config_and_the_logged_steps_per_epoch(tmp_path, config, planned):
    # 10 steps per epoch (_train logs epoch = step / 10); num_train_steps, when set, overrides the epochs.
    result = read_run(_workdir(tmp_path, [_train(10, 0.5), _train(20, 0.6)], config))
    assert result.per_epoch == 10 and result.planned_steps == planned
    assert read_run(_workdir(tmp_path, [], config)).planned_steps is None


def test_runs_logged_before_wall_time_have_none(tmp_path):
    assert read_run(_workdir(tmp_path, [_train(10, 0.5)])).wall_s is None


@pytest.mark.parametrize("missing", ["config.json", "metrics.jsonl"])
def test_a_workdir_without_its_files_names_the_file_and_the_fix(tmp_path, missing):
    _workdir(tmp_path, [_train(10, 0.5)])
    os.remove(tmp_path / missing)
    with pytest.raises(RunResultError, match=rf"{missing} not found: train the run first"):
        read_run(str(tmp_path))


def test_a_real_run_records_wall_time_and_its_machine(tiny_data_dir, tmp_path):
    final = train_and_evaluate(tiny_config(tiny_data_dir), str(tmp_path))
    result = read_run(str(tmp_path))
    times = [r["wall_s"] for r in result.records]
    assert times == sorted(times) and times[0] > 0
    assert result.wall_s == times[-1]
    assert result.final("top1") == pytest.approx(final["top1"])
    assert result.config["batch_size"] == 16
    assert result.machine["cores"] == os.cpu_count() and result.machine["devices"].endswith("× cpu")
