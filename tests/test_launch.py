"""launch.py end to end, in subprocesses, as a user runs it."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "experiments", "fashion_mnist", "lenet5.py")


def _launch(*args, env_extra=None):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env_extra or {})}
    return subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_train_end_to_end_on_a_tiny_idx_dataset(tmp_path, tiny_data_dir):
    workdir = tmp_path / "run"
    proc = _launch("train", f"--config={CONFIG}", f"--workdir={workdir}",
                   f"--config.dataset.data_dir={tiny_data_dir}", "--config.batch_size=16",
                   "--config.num_train_steps=12", "--config.eval_every_steps=6", "--config.log_every_steps=3",
                   "--config.schedule.warmup_epochs=0.5", "--config.optimizer.learning_rate=0.05")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test top1" in proc.stdout and "over 50 images" in proc.stdout
    lines = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    evals = [m for m in lines if m["split"] == "test"]
    assert [m["step"] for m in evals] == [6, 12]
    for m in evals:
        assert m["count"] == 50 and 0.0 <= m["top1"] <= m["top5"] <= 1.0
        assert m["epoch"] == pytest.approx(m["step"] / (96 // 16))
    train_lines = [m for m in lines if m["split"] == "train"]
    assert [m["step"] for m in train_lines] == [3, 6, 9, 12]
    assert all(m["images_per_sec"] > 0 and 0 <= m["learning_rate"] <= 0.05 for m in train_lines)
    assert train_lines[0]["learning_rate"] < 0.05  # still warming up: the ramp spans 3 steps
    # The tiny set is learnable: training reduces the loss.
    train = [m["loss"] for m in lines if m["split"] == "train"]
    assert train[-1] < train[0]
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["optimizer"]["learning_rate"] == 0.05 and saved["dataset"]["data_dir"] == str(tiny_data_dir)


def test_misspelled_override_fails_before_work_with_suggestion(tmp_path):
    proc = _launch("train", f"--config={CONFIG}", f"--workdir={tmp_path / 'run'}",
                   "--config.optimizer.learnig_rate=0.05")
    assert proc.returncode != 0
    assert "unknown config key 'optimizer.learnig_rate'." in proc.stderr
    assert "Did you mean 'optimizer.learning_rate'?" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_bad_config_value_is_a_clean_error(tmp_path, tiny_data_dir):
    proc = _launch("train", f"--config={CONFIG}", f"--workdir={tmp_path / 'run'}",
                   f"--config.dataset.data_dir={tiny_data_dir}", "--config.batch_size=16",
                   "--config.model.name=lenet")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: config.model: unknown model 'lenet'. Did you mean 'lenet5'")
    assert "Known models: alexnet, " in last and ", lenet5, lenet5_1998, " in last
    proc = _launch("train", f"--config={CONFIG}", f"--workdir={tmp_path / 'run'}",
                   f"--config.dataset.data_dir={tiny_data_dir}", "--config.batch_size=100")
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == (
        "error: config.batch_size: batch_size 100 exceeds the 96 training examples; lower batch_size")


def test_unknown_mode_is_a_usage_error(tmp_path):
    proc = _launch("trian", f"--config={CONFIG}", f"--workdir={tmp_path}")
    assert proc.returncode != 0 and "one of train" in proc.stderr


def test_missing_data_says_how_to_get_it(tmp_path):
    if os.path.isdir("/usr/share/datasets/mnist"):
        pytest.skip("MNIST is installed where the lookup would find it")
    proc = _launch("train", f"--config={CONFIG}", f"--workdir={tmp_path / 'run'}", "--config.dataset.name=mnist",
                   f"--config.dataset.data_dir={tmp_path / 'empty'}",
                   env_extra={"CNN_DATA_DIR": str(tmp_path / "none")})
    assert proc.returncode == 1
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("error: mnist not found: no train-images-idx3-ubyte[.gz] in any of")
    assert str(tmp_path / "empty") in message and str(tmp_path / "none") in message
    assert "set dataset.data_dir or $CNN_DATA_DIR" in message
