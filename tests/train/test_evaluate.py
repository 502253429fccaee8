import os

import pytest

from cnn.config import ConfigError, load_config
from cnn.train import CheckpointError, evaluate_checkpoint, train_and_evaluate
from cnn.train.metrics import read_metrics
from tests.tiny_runs import without_speed

pytestmark = pytest.mark.usefixtures("persistent_compilation_cache")  # their runs share programs

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "fashion_mnist", "lenet5.py")


def _config(data_dir, **overrides):
    config = load_config(CONFIG)
    config.dataset.data_dir = str(data_dir)
    config.schedule.warmup_epochs = 0.0
    config.update({"batch_size": 16, "num_train_steps": 8, "eval_every_steps": 4, "checkpoint_every_steps": 4,
                   **overrides})
    return config


def test_evaluating_the_latest_checkpoint_reproduces_the_runs_final_test_metrics(tmp_path, tiny_data_dir):
    final = train_and_evaluate(_config(tiny_data_dir), str(tmp_path))
    record = evaluate_checkpoint(_config(tiny_data_dir), str(tmp_path), "latest")
    assert {k: record[k] for k in final} == final and record["step"] == 8 and record["checkpoint"] == "latest"
    assert read_metrics(str(tmp_path))[-1] == record
    earlier = evaluate_checkpoint(_config(tiny_data_dir), str(tmp_path), "4")
    first_test = next(r for r in without_speed(read_metrics(str(tmp_path))) if r["split"] == "test")
    assert earlier == {**first_test, "checkpoint": "4"}


def test_evaluating_refuses_a_different_config_and_an_empty_workdir(tmp_path, tiny_data_dir):
    train_and_evaluate(_config(tiny_data_dir, num_train_steps=4), str(tmp_path / "run"))
    changed = _config(tiny_data_dir, num_train_steps=4)
    changed.optimizer.name = "adam"
    with pytest.raises(ConfigError, match="optimizer.name: 'sgd' -> 'adam'"):
        evaluate_checkpoint(changed, str(tmp_path / "run"))
    with pytest.raises(CheckpointError, match="no checkpoints in .*nothing.*train first"):
        evaluate_checkpoint(_config(tiny_data_dir), str(tmp_path / "nothing"))
