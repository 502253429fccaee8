"""A tiny run shared by the visualisation tests."""

import pytest


@pytest.fixture(scope="session")
def tiny_run(shared_tiny_data_dir, tmp_path_factory):
    """A LeNet-5 run of 12 steps on the tiny IDX set, checkpointed every 4 steps (three checkpoints kept)."""
    from cnn.train import train_and_evaluate

    from tests.tiny_runs import tiny_config

    workdir = str(tmp_path_factory.mktemp("tiny_run"))
    train_and_evaluate(tiny_config(shared_tiny_data_dir), workdir)
    return workdir
