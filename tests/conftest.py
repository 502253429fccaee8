"""Shared fixtures: a tiny Fashion-MNIST-shaped IDX dataset written by the tests themselves."""

from __future__ import annotations

import os

# Keras (the independent reference for the zoo) picks its backend once, at import.
os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cnn.data import write_idx  # noqa: E402
from cnn.data.download import NO_DOWNLOAD_ENV  # noqa: E402


def _write_tiny_fashion_mnist(folder, n_train: int = 96, n_test: int = 50, seed: int = 0, gz: bool = True) -> None:
    """Writes the four IDX files of a learnable 28×28 set: each class is a bright bar at its own row band."""
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)


@pytest.fixture(scope="session")
def _test_cache_home(tmp_path_factory):
    return tmp_path_factory.mktemp("xdg_cache")


@pytest.fixture(scope="module")
def persistent_compilation_cache(_test_cache_home):
    """JAX's persistent compilation cache on in this process for one module, in the folder launch.py's subprocesses
    use here ($XDG_CACHE_HOME/cnn/jax): a module whose tests train the same programs again and again (each
    train_and_evaluate jits its steps afresh) loads them instead of compiling them, as a rerun of launch.py does.
    A loaded program is the one compiled, so results are unchanged. Opt in with
    `pytestmark = pytest.mark.usefixtures("persistent_compilation_cache")`."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    from cnn import compile_cache

    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    saved = {key: getattr(jax.config, key) for key in keys}
    with pytest.MonkeyPatch.context() as env:
        env.setenv(compile_cache.ENV, str(_test_cache_home / "cnn" / "jax"))
        compile_cache.enable()
    compilation_cache.reset_cache()  # jax decides whether to use the cache once, at a process's first compile
    yield
    for key, value in saved.items():
        jax.config.update(key, value)
    compilation_cache.reset_cache()


@pytest.fixture(autouse=True)
def _no_dataset_downloads(monkeypatch, _test_cache_home):
    """No test may reach the internet (CI has none, and a hung download would stall the run), nor
    find a set a developer downloaded into ~/.cache. Subprocesses inherit both through os.environ;
    tests of the downloader lift the first themselves."""
    monkeypatch.setenv(NO_DOWNLOAD_ENV, "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(_test_cache_home))


@pytest.fixture
def write_tiny_fashion_mnist():
    return _write_tiny_fashion_mnist


@pytest.fixture
def tiny_data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    _write_tiny_fashion_mnist(folder)
    return folder


@pytest.fixture(scope="session")
def shared_tiny_data_dir(tmp_path_factory):
    """The tiny set written once, for slow tests that share a reference run."""
    folder = tmp_path_factory.mktemp("shared_data")
    _write_tiny_fashion_mnist(folder)
    return folder


@pytest.fixture(scope="session")
def fashion_lenet(tmp_path_factory):
    """LeNet-5 trained on the real Fashion-MNIST for one epoch (a network that has learned something), shared by
    the tests that need one; skipped where the set is not installed (`apt-get install dataset-fashion-mnist`)."""
    from cnn.config import load_config
    from cnn.data import DatasetError, locate
    from cnn.train import train_and_evaluate
    from cnn.train.trained import load_trained

    try:
        locate("fashion_mnist")
    except DatasetError as e:
        pytest.skip(f"the real Fashion-MNIST is not installed: {e}")
    config = load_config(os.path.join(os.path.dirname(__file__), "..", "experiments", "fashion_mnist", "lenet5.py"))
    config.num_train_steps = 469  # one epoch at batch 128: about 0.85 test top-1
    config.eval_every_steps = 469
    config.log_every_steps = 100
    workdir = str(tmp_path_factory.mktemp("fashion_lenet"))
    train_and_evaluate(config, workdir)
    return load_trained(workdir)
