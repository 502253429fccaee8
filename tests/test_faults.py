"""Runs that die (SIGKILL, SIGTERM, ctrl-C) and are rerun, as a user does it: launch.py in subprocesses."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator

from cnn.train.metrics import read_metrics
from tests.tiny_runs import without_speed

pytestmark = pytest.mark.faults

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "experiments", "fashion_mnist", "lenet5.py")
STEPS = 400
KILLS = 3
TMP = "orbax-checkpoint-tmp"  # orbax saves a checkpoint into `<step>.orbax-checkpoint-tmp`, renamed once complete


def _args(workdir, data_dir):
    return ["train", f"--config={CONFIG}", f"--workdir={workdir}", f"--config.dataset.data_dir={data_dir}",
            "--config.batch_size=16", f"--config.num_train_steps={STEPS}", "--config.checkpoint_every_steps=50",
            "--config.log_every_steps=15", "--config.eval_every_steps=50",  # 15: windows straddle checkpoints
            # Slow learning keeps every step's loss distinct, so a wrong replay or log window shows.
            "--config.optimizer.learning_rate=0.0005"]


def _env():
    # Unbuffered: a killed run's output up to the kill is still read back.
    return {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}


def _launch(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"), *args], capture_output=True,
                          text=True, cwd=ROOT, env=_env(), timeout=300)


def _start(*args):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "launch.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env())


def _wait_for(condition, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the run ended before the fault: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.005)


def _checkpoint_steps(workdir):
    folder = os.path.join(workdir, "checkpoints")
    return sorted(int(d) for d in os.listdir(folder) if d.isdigit()) if os.path.isdir(folder) else []


def _saved_state(workdir, step):
    """The train state saved at `step`, as orbax alone reads it back."""
    with ocp.StandardCheckpointer() as checkpointer:
        return checkpointer.restore(os.path.join(workdir, "checkpoints", str(step), "default"))


def _checkpoints(workdir):
    """The steps a resume may pick, each checked to be a whole checkpoint, and the temporary folders of saves
    a kill cut short; asserts that nothing else is there."""
    folder = os.path.join(workdir, "checkpoints")
    entries = os.listdir(folder) if os.path.isdir(folder) else []
    unfinished = sorted(e for e in entries if TMP in e)
    steps = sorted(int(e) for e in entries if e.isdigit())
    assert len(steps) + len(unfinished) == len(entries), entries
    for step in steps:
        # Orbax writes it into the temporary folder just before the rename: a step folder without it is unfinished.
        assert os.path.isfile(os.path.join(folder, str(step), "commit_success.txt")), step
        _saved_state(workdir, step)
    return steps, unfinished


def _resumed_from(stdout):
    """The step of the checkpoint a run said it resumed from, None if it started afresh."""
    prefix = "resuming from the checkpoint of step "
    return next((int(ln[len(prefix):].split()[0]) for ln in stdout.splitlines() if ln.startswith(prefix)), None)


def _logged_train_step(workdir, at_least):
    path = os.path.join(workdir, "metrics.jsonl")
    return os.path.exists(path) and any(r["split"] == "train" and r["step"] >= at_least for r in read_metrics(workdir))


def _scalars(workdir, tag):
    events = event_accumulator.EventAccumulator(workdir)
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


@pytest.fixture(scope="module")
def straight(tmp_path_factory, shared_tiny_data_dir):
    """The uninterrupted run: its workdir and what it printed."""
    workdir = str(tmp_path_factory.mktemp("straight") / "run")
    proc = _launch(*_args(workdir, shared_tiny_data_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir, proc.stdout


def test_repeated_sigkills_at_random_points_then_a_rerun_end_bit_identical_to_the_uninterrupted_run(
        tmp_path, shared_tiny_data_dir, straight, record_property):
    rng = random.Random(9)
    workdir = str(tmp_path / "run")
    args = _args(workdir, shared_tiny_data_dir)
    # At least one kill waits for orbax to start writing a checkpoint; the others land anywhere, saves included.
    modes = ["mid-save"] + [rng.choice(["mid-save", "anywhere"]) for _ in range(KILLS - 1)]
    rng.shuffle(modes)
    killed_at, kills, interrupted_saves, expected_resume = 0, [], 0, None
    for mode in modes:
        proc = _start(*args)
        # Each fault point lies past the last step logged before it, so the wait sees this process's work, not
        # the files of the previous one; 80 steps at most, so three kills leave the last rerun work to do.
        if mode == "mid-save":
            saved = 50 * rng.randint(killed_at // 50 + 1, (killed_at + 80) // 50)
            _wait_for(lambda: os.path.isdir(os.path.join(workdir, "checkpoints", f"{saved}.{TMP}")), proc)
        else:
            logged = rng.randint(killed_at + 1, killed_at + 80)
            _wait_for(lambda: _logged_train_step(workdir, logged), proc)
            time.sleep(rng.uniform(0.0, 0.1))
        proc.kill()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, err[-3000:]
        assert _resumed_from(out) == expected_resume and "cannot be restored" not in out
        killed_at = max(r["step"] for r in read_metrics(workdir))
        assert killed_at < STEPS
        complete, unfinished = _checkpoints(workdir)
        kills.append(f"{mode} at step {killed_at}" + (f", leaving {unfinished}" if unfinished else ""))
        interrupted_saves += bool(unfinished)
        expected_resume = complete[-1] if complete else None
    print(f"survived {len(kills)} SIGKILLs: " + "; ".join(kills))
    record_property("sigkills", kills)
    # A save takes tens of steps' time here, so a kill right after its folder appears cuts it short.
    assert interrupted_saves, f"no kill landed mid-save, so the test did not test that: {kills}"

    rerun = _launch(*args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _resumed_from(rerun.stdout) == expected_resume and "cannot be restored" not in rerun.stdout
    # Every interrupted save was redone (the run saves the same steps again) and replaced its temporary folder.
    complete, unfinished = _checkpoints(workdir)
    assert complete[-1] == STEPS and not unfinished
    # Every line, train and test, is what the uninterrupted run wrote (minus wall-clock speed).
    assert without_speed(read_metrics(workdir)) == without_speed(read_metrics(straight[0]))
    assert rerun.stdout.splitlines()[-1] == straight[1].splitlines()[-1]
    # TensorBoard too: each killed run's events survive up to its kill, its replayed steps are purged.
    for tag in ("train/loss", "test/top1"):
        assert _scalars(workdir, tag) == _scalars(straight[0], tag)
    same = jax.tree.map(np.array_equal, _saved_state(workdir, STEPS), _saved_state(straight[0], STEPS))
    assert all(jax.tree.leaves(same))


@pytest.mark.parametrize("signum, exit_code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_stop_signal_checkpoints_the_current_step_exits_cleanly_and_the_rerun_continues(
        tmp_path, shared_tiny_data_dir, straight, signum, exit_code):
    workdir = str(tmp_path / "run")
    proc = _start(*_args(workdir, shared_tiny_data_dir))
    _wait_for(lambda: _logged_train_step(workdir, 100), proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == exit_code, err[-3000:]
    name = signal.Signals(signum).name
    line = next(ln for ln in out.splitlines() if ln.startswith(f"stopped by {name} at step "))
    step = int(line.split("at step ")[1].split(":")[0])
    assert 100 <= step < STEPS and "rerun the same command to resume" in line
    assert _checkpoint_steps(workdir)[-1] == step
    assert "Traceback" not in err

    rerun = _launch(*_args(workdir, shared_tiny_data_dir))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming from the checkpoint of step {step}" in rerun.stdout
    tests = lambda records: [r for r in without_speed(records) if r["split"] == "test"]  # noqa: E731
    assert tests(read_metrics(workdir)) == tests(read_metrics(straight[0]))
    assert rerun.stdout.splitlines()[-1] == straight[1].splitlines()[-1]


def test_eval_mode_evaluates_latest_best_and_a_step_and_appends_the_result(tmp_path, shared_tiny_data_dir, straight):
    workdir = str(tmp_path / "run")
    shutil.copytree(straight[0], workdir)
    final_test = [r for r in without_speed(read_metrics(workdir)) if r["split"] == "test"][-1]
    eval_args = ["eval", f"--config={CONFIG}", f"--workdir={workdir}",
                 f"--config.dataset.data_dir={shared_tiny_data_dir}", "--config.batch_size=16",
                 f"--config.num_train_steps={STEPS}", "--config.optimizer.learning_rate=0.0005"]
    proc = _launch(*eval_args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    appended = read_metrics(workdir)[-1]
    assert appended == {**final_test, "checkpoint": "latest"}
    assert f"checkpoint latest (step {STEPS}): test top1 {final_test['top1']:.4f}" in proc.stdout

    steps = _checkpoint_steps(workdir)
    proc = _launch(*eval_args, f"--checkpoint={steps[0]}")
    assert proc.returncode == 0 and read_metrics(workdir)[-1]["step"] == steps[0]
    proc = _launch(*eval_args, "--checkpoint=best")
    best = read_metrics(workdir)[-1]
    tests = [r for r in read_metrics(straight[0]) if r["split"] == "test"]
    assert proc.returncode == 0 and best["top1"] == max(r["top1"] for r in tests)

    proc = _launch(*eval_args, "--checkpoint=7")
    assert proc.returncode == 1 and "error: no checkpoint '7'" in proc.stderr and str(steps) in proc.stderr


def test_curves_mode_redraws_the_png_fromread_metrics(tmp_path, straight):
    workdir = str(tmp_path / "run")
    shutil.copytree(straight[0], workdir)
    png = os.path.join(workdir, "plots", "curves.png")
    os.remove(png)
    proc = _launch("curves", f"--workdir={workdir}")
    assert proc.returncode == 0 and proc.stdout.strip() == f"wrote {png}"
    with Image.open(png) as image:
        assert image.format == "PNG" and len(np.unique(np.asarray(image.convert("L")))) > 10
    proc = _launch("curves", f"--workdir={tmp_path / 'nothing'}")
    assert proc.returncode == 1 and "metrics.jsonl" in proc.stderr
