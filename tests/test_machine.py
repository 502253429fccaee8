"""What runs and benchmarks record about the machine."""

import json
import os

import jax

from cnn import machine


def test_describe_names_the_cpu_cores_devices_and_versions():
    described = machine.describe()
    assert described["cores"] == os.cpu_count()
    assert described["devices"] == f"{jax.device_count()}× {jax.devices()[0].device_kind}"
    assert described["jax"] == jax.__version__
    assert described["date"].endswith("+00:00")
    with open("/proc/cpuinfo") as f:
        assert described["cpu"] in f.read()


def test_record_writes_machine_json_whole(tmp_path):
    machine.record(str(tmp_path))
    assert json.loads((tmp_path / "machine.json").read_text())["cores"] == os.cpu_count()
    assert sorted(os.listdir(tmp_path)) == ["machine.json"]  # no temporary file left behind


def test_short_names_accelerators_when_there_are_any():
    cpu = {"cpu": "Test CPU", "cores": 2, "devices": "1× cpu"}
    assert machine.short(cpu) == "Test CPU (2 cores)"
    assert machine.short({**cpu, "devices": "8× NVIDIA H100 80GB HBM3"}) == "8× NVIDIA H100 80GB HBM3"
