import os
import shutil
import sys

import jax
import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator

from cnn.config import ConfigError
from cnn.train import NonFiniteLossError, train_and_evaluate
from cnn.train.checkpoint import Checkpointer
from cnn.train.metrics import read_metrics
from cnn.train.run import build_run
from tests.tiny_runs import without_speed
from tests.tiny_runs import tiny_config as _config  # no per-epoch keepers: retention is latest N and best N


# Every test here trains LeNet-5 on the tiny set afresh: the persistent cache loads the programs the first compiled.
pytestmark = pytest.mark.usefixtures("persistent_compilation_cache")


@pytest.fixture(scope="module")
def straight(tmp_path_factory, shared_tiny_data_dir):
    """An uninterrupted 12-step run: its final metrics and metrics.jsonl. Shared: the tests that compare with it
    only read it (the shared set holds the same images as each test's tiny_data_dir, written from the same seed)."""
    workdir = str(tmp_path_factory.mktemp("straight") / "run")
    result = train_and_evaluate(_config(shared_tiny_data_dir), workdir)
    return result, read_metrics(workdir)


def test_rerun_after_losing_the_last_steps_replays_them_exactly(tmp_path, tiny_data_dir, straight):
    workdir = str(tmp_path / "b")
    train_and_evaluate(_config(tiny_data_dir), workdir)
    # A kill after the checkpoint of step 8: step 12's checkpoint never happened, its lines did.
    shutil.rmtree(os.path.join(workdir, "checkpoints", "12"))
    resumed = train_and_evaluate(_config(tiny_data_dir), workdir)
    assert resumed == straight[0]
    assert without_speed(read_metrics(workdir)) == without_speed(straight[1])
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints")), key=int) == ["4", "8", "12"]


def test_augmented_runs_replay_the_same_augmentations_on_resume(tmp_path, tiny_data_dir, straight):
    def augmented():
        config = _config(tiny_data_dir)
        config.augment.crop_padding, config.augment.translate, config.augment.flip = 2, 1, True
        return config

    first = train_and_evaluate(augmented(), str(tmp_path / "a"))
    assert without_speed(read_metrics(str(tmp_path / "a"))) != without_speed(straight[1])
    workdir = str(tmp_path / "b")
    train_and_evaluate(augmented(), workdir)
    shutil.rmtree(os.path.join(workdir, "checkpoints", "12"))
    assert train_and_evaluate(augmented(), workdir) == first
    assert without_speed(read_metrics(workdir)) == without_speed(read_metrics(str(tmp_path / "a")))


def test_finished_run_is_evaluated_not_retrained(tmp_path, tiny_data_dir, capsys):
    first = train_and_evaluate(_config(tiny_data_dir, num_train_steps=4), str(tmp_path))
    lines = len(read_metrics(str(tmp_path)))
    again = train_and_evaluate(_config(tiny_data_dir, num_train_steps=4), str(tmp_path))
    assert again == first and len(read_metrics(str(tmp_path))) == lines
    assert "already holds the final step 4" in capsys.readouterr().out


def test_keeps_the_latest_checkpoints_and_the_best_by_test_top1(tmp_path, tiny_data_dir):
    config = _config(tiny_data_dir, num_train_steps=24, checkpoint_every_steps=2, keep_checkpoints=2)
    train_and_evaluate(config, str(tmp_path))
    tests = {r["step"]: r["top1"] for r in read_metrics(str(tmp_path)) if r["split"] == "test"}
    best = max(tests, key=lambda s: (tests[s], s))
    kept = sorted(int(s) for s in os.listdir(tmp_path / "checkpoints"))
    assert kept == sorted({22, 24, best})
    checkpointer = Checkpointer(str(tmp_path), 2, 2)
    assert checkpointer.best_step() == best
    checkpointer.close()


def test_zero_epochs_is_refused(tmp_path, tiny_data_dir):
    with pytest.raises(ValueError, match="num_epochs or config.num_train_steps"):
        train_and_evaluate(_config(tiny_data_dir, num_epochs=0, num_train_steps=-1), str(tmp_path))


def test_a_changed_config_in_the_same_workdir_is_refused_naming_the_keys(tmp_path, tiny_data_dir):
    train_and_evaluate(_config(tiny_data_dir, num_train_steps=4), str(tmp_path))
    saved = (tmp_path / "config.json").read_text()
    changed = _config(tiny_data_dir, num_train_steps=4, batch_size=32)
    changed.optimizer.learning_rate = 0.1
    with pytest.raises(ConfigError) as error:
        train_and_evaluate(changed, str(tmp_path))
    message = str(error.value)
    assert "batch_size: 16 -> 32" in message and "optimizer.learning_rate: 0.05 -> 0.1" in message
    assert "num_train_steps" not in message and "new --workdir" in message
    assert (tmp_path / "config.json").read_text() == saved
    # Logging and checkpoint cadence do not change what is computed: accepted.
    train_and_evaluate(_config(tiny_data_dir, num_train_steps=4, log_every_steps=1), str(tmp_path))


def test_a_diverging_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, tiny_data_dir):
    # The learning rate jumps 1e8-fold after the first epoch (6 steps): the loss blows up soon after.
    config = _config(tiny_data_dir, num_train_steps=60, checkpoint_every_steps=2, log_every_steps=2,
                     eval_every_steps=100)
    config.schedule.name = "step"
    config.schedule.boundaries_epochs = (1,)
    config.schedule.decay_factor = 1e8
    with pytest.raises(NonFiniteLossError, match=r"at step (\d+)") as error:
        train_and_evaluate(config, str(tmp_path))
    bad_step = int(error.value.args[0].split("at step ")[1].split(";")[0])
    assert 7 <= bad_step <= 60
    losses = [(r["step"], r["loss"]) for r in read_metrics(str(tmp_path)) if r["split"] == "train"]
    # The log ends on the window that went non-finite (so curves and studies see the divergence); all before it
    # are finite.
    assert len(losses) > 1 and all(np.isfinite(v) for _, v in losses[:-1]) and not np.isfinite(losses[-1][1])
    assert losses[-2][0] < bad_step <= losses[-1][0]
    run = build_run(config, str(tmp_path))
    steps = run.checkpointer.steps()
    assert steps and max(steps) < bad_step
    restored = run.checkpointer.restore(run.state, max(steps))
    run.checkpointer.close()
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(restored.params))
    assert f"step {max(steps)}" in str(error.value)


def test_writes_a_curve_png_and_tensorboard_events_readable_without_tensorflow(tmp_path, tiny_data_dir):
    train_and_evaluate(_config(tiny_data_dir), str(tmp_path))
    with Image.open(tmp_path / "plots" / "curves.png") as image:
        assert image.format == "PNG" and image.size[0] > 600
        assert len(np.unique(np.asarray(image.convert("L")))) > 10  # something is drawn
    events = event_accumulator.EventAccumulator(str(tmp_path))
    events.Reload()
    assert {"train/loss", "train/top1", "test/top1", "test/top5"} <= set(events.Tags()["scalars"])
    logged = {r["step"]: r["top1"] for r in read_metrics(str(tmp_path)) if r["split"] == "test"}
    read_back = {e.step: e.value for e in events.Scalars("test/top1")}
    assert read_back == pytest.approx(logged)
    assert "tensorflow" not in sys.modules
