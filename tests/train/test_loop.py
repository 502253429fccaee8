import os

import pytest

from cnn.config import load_config
from cnn.train import train_and_evaluate
from cnn.train.metrics import read_metrics

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "fashion_mnist", "lenet5.py")


def _config(data_dir, **overrides):
    config = load_config(CONFIG)
    config.dataset.data_dir = str(data_dir)
    config.batch_size = 16
    config.log_every_steps = 2
    config.eval_every_steps = 4
    config.checkpoint_every_steps = 4
    config.schedule.name = "constant"
    config.schedule.warmup_epochs = 0.0
    for key, value in overrides.items():
        config[key] = value
    return config


def test_rerun_resumes_from_the_latest_checkpoint_and_matches_an_uninterrupted_run(tmp_path, tiny_data_dir):
    straight = train_and_evaluate(_config(tiny_data_dir, num_train_steps=12), str(tmp_path / "a"))
    # Stopped after step 8 (a checkpoint), then the same command with the full length resumes there.
    train_and_evaluate(_config(tiny_data_dir, num_train_steps=8), str(tmp_path / "b"))
    resumed = train_and_evaluate(_config(tiny_data_dir, num_train_steps=12), str(tmp_path / "b"))
    assert resumed == straight
    steps = [m["step"] for m in read_metrics(str(tmp_path / "b")) if m["split"] == "train"]
    assert steps == [2, 4, 6, 8, 10, 12]
    assert sorted(os.listdir(tmp_path / "b" / "checkpoints")) == ["12", "4", "8"]


def test_finished_run_is_evaluated_not_retrained(tmp_path, tiny_data_dir, capsys):
    first = train_and_evaluate(_config(tiny_data_dir, num_train_steps=4), str(tmp_path))
    lines = len(read_metrics(str(tmp_path)))
    again = train_and_evaluate(_config(tiny_data_dir, num_train_steps=4), str(tmp_path))
    assert again == first and len(read_metrics(str(tmp_path))) == lines
    assert "already holds the final step 4" in capsys.readouterr().out


def test_keeps_only_the_latest_checkpoints(tmp_path, tiny_data_dir):
    train_and_evaluate(_config(tiny_data_dir, num_train_steps=12, checkpoint_every_steps=2, keep_checkpoints=2),
                       str(tmp_path))
    assert sorted(os.listdir(tmp_path / "checkpoints"), key=int) == ["10", "12"]


def test_zero_epochs_is_refused(tmp_path, tiny_data_dir):
    with pytest.raises(ValueError, match="num_epochs or config.num_train_steps"):
        train_and_evaluate(_config(tiny_data_dir, num_epochs=0), str(tmp_path))
