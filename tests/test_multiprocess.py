"""Several JAX processes joined by jax.distributed (gloo over 127.0.0.1) train as one process does.

Each run is launch.py in subprocesses, as a cluster starts it: the same command in every process,
with its --process-id. The references are 1-process runs over forced CPU devices.
"""

import os
import re
import shutil
import socket
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from cnn.train.metrics import read_metrics

pytestmark = [pytest.mark.multiprocess, pytest.mark.faults]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "experiments", "fashion_mnist", "lenet5.py")
STEPS, HALF = 40, 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(workdir, data_dir, processes: int, devices_each: int, steps: int = STEPS) -> list[subprocess.Popen]:
    """The same train command in `processes` processes of `devices_each` CPU devices."""
    args = [sys.executable, os.path.join(ROOT, "launch.py"), "train", f"--config={CONFIG}", f"--workdir={workdir}",
            f"--config.dataset.data_dir={data_dir}", "--config.batch_size=16", f"--config.num_train_steps={steps}",
            "--config.checkpoint_every_steps=10", "--config.keep_checkpoints=10", "--config.eval_every_steps=20",
            "--config.log_every_steps=5", "--config.optimizer.learning_rate=0.01"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices_each}"}
    if processes > 1:
        args.append(f"--coordinator-address=127.0.0.1:{_free_port()}")
        args.append(f"--num-processes={processes}")
    return [subprocess.Popen(args + ([f"--process-id={i}"] if processes > 1 else []), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env) for i in range(processes)]


def _train(workdir, data_dir, processes: int, devices_each: int, steps: int = STEPS) -> list[str]:
    """Runs `_start`'s processes to the end; their stdouts."""
    procs = _start(workdir, data_dir, processes, devices_each, steps)
    outs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-3000:]
            outs.append(out)
    finally:
        for proc in procs:
            proc.kill()
    return outs


def _params(workdir, step=STEPS):
    from cnn.train.trained import load_trained

    return jax.device_get(load_trained(workdir, str(step)).variables["params"])


def _assert_same_run(workdir, reference):
    got, want = read_metrics(workdir), read_metrics(reference)
    assert [(r["split"], r["step"]) for r in got] == [(r["split"], r["step"]) for r in want]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5, atol=1e-7)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 _params(workdir), _params(reference))


def _cut_back_to(workdir, step):
    """Leaves only the checkpoints up to `step`, as if the run had stopped there."""
    folder = os.path.join(workdir, "checkpoints")
    for name in os.listdir(folder):
        if name.isdigit() and int(name) > step:
            shutil.rmtree(os.path.join(folder, name))


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, shared_tiny_data_dir):
    """The reference: 1 process over 4 devices."""
    workdir = str(tmp_path_factory.mktemp("one") / "run")
    _train(workdir, shared_tiny_data_dir, processes=1, devices_each=4)
    return workdir


def test_two_processes_of_two_devices_train_as_one_process_of_four_and_only_process_0_reports(
        tmp_path, shared_tiny_data_dir, one_process):
    workdir = str(tmp_path / "run")
    lead, other = _train(workdir, shared_tiny_data_dir, processes=2, devices_each=2)
    assert "training on 4 × cpu" in lead and lead.splitlines()[-1].startswith("test top1 ")
    # Progress, evaluations and the result are printed once, by process 0. gloo's C++ library prints its own
    # "[Gloo] Rank r is connected to n peer ranks. ... is : n" from several threads, which can split it
    # anywhere ("[Gloo] Rank " on one line, "1 is connected ..." on the next, a bare "1"); cnn never prints a
    # piece of that message.
    assert [line for line in other.splitlines() if not line.startswith("[Gloo]") and not _gloo_piece(line)] == []
    _assert_same_run(workdir, one_process)


GLOO_MESSAGE = "[Gloo] Rank N is connected to N peer ranks. Expected number of connected peer ranks is : N"


def _gloo_piece(line: str) -> bool:
    """Whether a non-blank line is a piece of gloo's connection message, its numbers written N."""
    return bool(line.strip()) and re.sub(r"\d+", "N", line.strip()) in GLOO_MESSAGE


def test_checkpoints_move_between_process_and_device_counts(tmp_path, shared_tiny_data_dir, one_process):
    # Written by 1 process over 4 devices, continued by 2 processes of 1 device each.
    workdir = str(tmp_path / "to_two")
    shutil.copytree(one_process, workdir)
    _cut_back_to(workdir, HALF)
    lead, _ = _train(workdir, shared_tiny_data_dir, processes=2, devices_each=1)
    assert f"resuming from the checkpoint of step {HALF}" in lead and "training on 2 × cpu" in lead
    _assert_same_run(workdir, one_process)
    # Its checkpoint of step 30, written by those 2 processes, continued by 1 process of 1 device.
    _cut_back_to(workdir, 30)
    (out,) = _train(workdir, shared_tiny_data_dir, processes=1, devices_each=1)
    assert "resuming from the checkpoint of step 30" in out and "training on 1 × cpu" in out
    _assert_same_run(workdir, one_process)


def test_sigterm_to_one_process_stops_all_at_one_step_with_a_checkpoint(
        tmp_path, shared_tiny_data_dir):
    workdir, steps = str(tmp_path / "run"), 200
    procs = _start(workdir, shared_tiny_data_dir, processes=2, devices_each=1, steps=steps)
    metrics, deadline = os.path.join(workdir, "metrics.jsonl"), time.monotonic() + 180
    while not (os.path.exists(metrics) and any(r["step"] >= 30 for r in read_metrics(workdir))):
        assert all(p.poll() is None for p in procs) and time.monotonic() < deadline, "the run ended or stalled"
        time.sleep(0.01)
    procs[1].send_signal(signal.SIGTERM)  # the scheduler's notice reaching one host first
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    line = next(ln for ln in outs[0].splitlines() if ln.startswith("stopped by SIGTERM at step "))
    stopped = int(line.split("at step ")[1].split(":")[0])
    # Both saved that step together (a resume from it is the test above's).
    assert 30 <= stopped < steps and str(stopped) in os.listdir(os.path.join(workdir, "checkpoints"))
