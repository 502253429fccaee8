"""launch.py keeps compiled programs in the persistent cache the environment names, or none when it says off."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bench(cache: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "CNN_COMPILATION_CACHE": cache, **env_extra}
    return subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"), "bench", "--model", "lenet5",
                           "--batch-size", "8", "--repeats", "1", "--json"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_a_second_run_loads_the_train_step_the_first_compiled(tmp_path):
    cache = tmp_path / "jax"
    first = _bench(str(cache))
    assert first.returncode == 0, first.stderr[-2000:]
    entries = sorted(os.listdir(cache))
    assert any(name.startswith("jit_train_step-") for name in entries), entries
    second = _bench(str(cache))
    assert second.returncode == 0, second.stderr[-2000:]
    assert sorted(os.listdir(cache)) == entries  # every program came from the cache: nothing new written


def test_the_default_folder_and_off(tmp_path):
    proc = _bench("", XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert any(name.startswith("jit_train_step-") for name in os.listdir(tmp_path / "xdg" / "cnn" / "jax"))
    proc = _bench("off", XDG_CACHE_HOME=str(tmp_path / "none"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not os.path.exists(tmp_path / "none" / "cnn" / "jax") and not os.path.exists(os.path.join(ROOT, "off"))
