"""How launch.py's flags and the environment decide whether, and how, a process joins others."""

import os
import subprocess
import sys

import jax
import pytest

from cnn import distributed
from cnn.distributed import DistributedError


@pytest.fixture
def joined(monkeypatch):
    """What jax.distributed.initialize was called with (it is not really called: that would wait for peers)."""
    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda *args: calls.append(args))
    for name in (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES, distributed.ENV_PROCESS_ID):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_nothing_set_means_one_process_that_waits_for_no_coordinator(joined):
    assert distributed.initialize() is False and joined == []


def test_flags_join_with_exactly_what_they_say(joined):
    assert distributed.initialize("10.0.0.1:1234", 4, 3) is True
    assert joined == [("10.0.0.1:1234", 4, 3)]


def test_the_environment_fills_what_the_flags_leave_out_and_flags_win(joined, monkeypatch):
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "host:99")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "2")
    monkeypatch.setenv("JAX_PROCESS_ID", "1")
    distributed.initialize(process_id=0)
    assert joined == [("host:99", 2, 0)]


def test_distributed_alone_leaves_the_rest_to_jax_cluster_detection(joined):
    distributed.initialize(auto=True)
    assert joined == [(None, None, None)]


@pytest.mark.parametrize("kwargs, env, message", [
    ({"num_processes": 2}, {}, "give all three of --coordinator-address"),
    ({"coordinator_address": "h:1", "num_processes": 2, "process_id": 2}, {}, "--process-id 2 is outside 0..1"),
    ({"coordinator_address": "h:1", "num_processes": 0, "process_id": 0}, {}, "--num-processes 0: give at least 1"),
    ({}, {"JAX_NUM_PROCESSES": "two"}, "$JAX_NUM_PROCESSES='two' is not a whole number"),
])
def test_incomplete_or_inconsistent_settings_are_refused_before_joining(joined, monkeypatch, kwargs, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(DistributedError, match=message.replace("$", r"\$").replace(".", r"\.")):
        distributed.initialize(**kwargs)
    assert joined == []


def test_alone_every_process_is_the_lead_and_waiting_for_all_returns(joined):
    assert distributed.is_lead()
    distributed.wait_for_all("nothing to wait for")


def test_launch_refuses_half_given_process_flags_in_one_line():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "launch.py", "train", "--config=experiments/fashion_mnist/lenet5.py",
                           "--workdir=/nonexistent/never_written", "--num-processes=2"],
                          capture_output=True, text=True, cwd=root, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: outside a cluster JAX detects (Slurm, Open MPI, Kubernetes, Cloud TPU), give all three of "
        "--coordinator-address HOST:PORT, --num-processes N and --process-id I (or $JAX_COORDINATOR_ADDRESS, "
        "$JAX_NUM_PROCESSES, $JAX_PROCESS_ID); inside one, --distributed alone"]
    assert not os.path.exists("/nonexistent/never_written")
