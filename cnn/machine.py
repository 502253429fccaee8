"""What a figure was measured on: the host's CPU and cores, the accelerators, library versions, the date.

Benchmarks and training runs record it beside their numbers (`benchmarks/results.json`,
`workdir/machine.json`), so every table can say which machine produced each figure.
"""

from __future__ import annotations

import datetime
import json
import os
import platform

import flax
import jax

from cnn.distributed import is_lead


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it, else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def devices() -> str:
    """The visible accelerators as "N× KIND" (e.g. "1× cpu", "8× NVIDIA H100 80GB HBM3")."""
    kinds: dict[str, int] = {}
    for device in jax.devices():
        kinds[device.device_kind] = kinds.get(device.device_kind, 0) + 1
    return ", ".join(f"{count}× {kind}" for kind, count in kinds.items())


def describe() -> dict:
    """CPU, cores, devices, OS, Python, jax and flax versions, the UTC date and the 1-minute load average
    (other processes on the cores slow any measurement down)."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "devices": devices(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_average": os.getloadavg()[0],
    }


def short(machine: dict) -> str:
    """One line for a table's caption: "Intel(R) Xeon(R) Processor (2 cores)" or the accelerators."""
    if machine.get("devices") and not machine["devices"].endswith("× cpu"):
        return machine["devices"]
    return f"{machine['cpu']} ({machine['cores']} cores)"


def record(workdir: str) -> None:
    """Writes `describe()` to `workdir/machine.json` atomically, from process 0 only: the machine of the run's
    latest session (a run resumed elsewhere names the machine that finished it)."""
    if not is_lead():
        return
    path = os.path.join(workdir, "machine.json")
    with open(path + ".tmp", "w") as f:
        json.dump(describe(), f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)
