"""Many processes, one run: JAX's own multi-controller runtime (`jax.distributed`), nothing home-made.

Every process runs the same command. Once joined, `jax.devices()` lists the devices of all of
them, the mesh spans them all and the jitted step is one program over the global batch; each
process feeds only its rows of each batch (`cnn.data.pipeline.process_rows`). Process 0 alone
writes metrics, plots and `config.json` and prints progress; orbax checkpoints collectively
(every process calls save and restore, orbax decides who writes what). CPU processes exchange
their sums over TCP with gloo, JAX's default CPU collectives.

Where the processes learn of each other, first found first used:

- flags `--coordinator-address HOST:PORT --num-processes N --process-id I` (launch.py);
- the environment: `JAX_COORDINATOR_ADDRESS` (read by JAX itself), `JAX_NUM_PROCESSES`,
  `JAX_PROCESS_ID`;
- with `--distributed` alone, JAX's cluster detection: Slurm (`srun`), Open MPI, Kubernetes
  and Cloud TPU pod slices set everything.
"""

from __future__ import annotations

import os

import jax
from jax.experimental import multihost_utils

ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"
ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"


class DistributedError(ValueError):
    """The process settings are incomplete or inconsistent; the message says which."""


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise DistributedError(f"${name}={value!r} is not a whole number") from None


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, auto: bool = False) -> bool:
    """Joins this process to the others when any setting (flag or environment) or `auto` asks for it.

    Must run before anything touches a device. Returns whether it joined; without any setting it
    does nothing, so a single-process run never waits for a coordinator.
    """
    coordinator_address = coordinator_address or os.environ.get(ENV_COORDINATOR) or None
    num_processes = num_processes if num_processes is not None else _env_int(ENV_NUM_PROCESSES)
    process_id = process_id if process_id is not None else _env_int(ENV_PROCESS_ID)
    if not (auto or coordinator_address or num_processes is not None or process_id is not None):
        return False
    if num_processes is not None and num_processes < 1:
        raise DistributedError(f"--num-processes {num_processes}: give at least 1")
    if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
        raise DistributedError(f"--process-id {process_id} is outside 0..{num_processes - 1} "
                               f"(--num-processes {num_processes})")
    if not auto and (coordinator_address is None or num_processes is None or process_id is None):
        raise DistributedError(
            "outside a cluster JAX detects (Slurm, Open MPI, Kubernetes, Cloud TPU), give all three of "
            f"--coordinator-address HOST:PORT, --num-processes N and --process-id I (or ${ENV_COORDINATOR}, "
            f"${ENV_NUM_PROCESSES}, ${ENV_PROCESS_ID}); inside one, --distributed alone")
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
    return True


def is_lead() -> bool:
    """Whether this process writes what is written once per run (metrics, plots, config.json)."""
    return jax.process_index() == 0


def lead_print(line: str) -> None:
    """Prints `line` from process 0 only, so that N processes do not print each line N times."""
    if is_lead():
        print(line)


def wait_for_all(name: str) -> None:
    """Returns once every process has reached the call with this `name` (nothing to wait for alone)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)
