"""A LeNet-5 trained on the real Fashion-MNIST for one epoch, shared by the tests that need a network that
has learned something (skipped where the set is not installed: `apt-get install dataset-fashion-mnist`)."""

import os

import pytest

from cnn.config import load_config

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "fashion_mnist", "lenet5.py")


@pytest.fixture(scope="session")
def fashion_lenet(tmp_path_factory):
    from cnn.data import DatasetError, locate
    from cnn.train import train_and_evaluate
    from cnn.train.trained import load_trained

    try:
        locate("fashion_mnist")
    except DatasetError as e:
        pytest.skip(f"the real Fashion-MNIST is not installed: {e}")
    config = load_config(CONFIG)
    config.num_train_steps = 469  # one epoch at batch 128: about 0.85 test top-1
    config.eval_every_steps = 469
    config.log_every_steps = 100
    workdir = str(tmp_path_factory.mktemp("fashion_lenet"))
    train_and_evaluate(config, workdir)
    return load_trained(workdir)


@pytest.fixture(scope="session")
def tiny_run(shared_tiny_data_dir, tmp_path_factory):
    """A LeNet-5 run of 12 steps on the tiny IDX set, checkpointed every 4 steps (three checkpoints kept)."""
    from cnn.train import train_and_evaluate

    from tests.tiny_runs import tiny_config

    workdir = str(tmp_path_factory.mktemp("tiny_run"))
    train_and_evaluate(tiny_config(shared_tiny_data_dir), workdir)
    return workdir
