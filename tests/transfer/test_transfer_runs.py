"""Fine-tuning runs end to end on the real Fashion-MNIST: weights start at the source's, frozen layers stay
bit-identical, a useful source beats training from scratch, and the CLI's transfer and probe modes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cnn.config import ConfigError, load_config
from cnn.train import train_and_evaluate
from cnn.train.trained import load_trained
from cnn.transfer.source_probes import probe_source

pytestmark = pytest.mark.usefixtures("persistent_compilation_cache")  # their runs share programs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "experiments", "transfer", "lenet5.py")


def _five_shot(source_dir: str, strategy: str, **transfer) -> object:
    """Fashion-MNIST classes 5-9, 5 training images each, 30 steps: a short run on a small target."""
    config = load_config(f"{CONFIG}:fashion10")
    config.dataset.train_per_class, config.batch_size = 5, 25
    config.num_train_steps = config.eval_every_steps = config.checkpoint_every_steps = 30
    config.transfer.source, config.transfer.strategy = source_dir, strategy
    for key, value in transfer.items():
        config.transfer[key] = value
    return config


@pytest.fixture(scope="module")
def five_shot_runs(fashion_lenet, tmp_path_factory):
    """From scratch and frozen up to C3, both from the one-epoch LeNet-5 of all ten classes (it has seen 5-9:
    a useful source by construction); the runs' final test metrics and workdirs."""
    runs = {}
    for strategy in ("scratch", "freeze"):
        workdir = str(tmp_path_factory.mktemp(strategy))
        runs[strategy] = (train_and_evaluate(_five_shot(fashion_lenet.workdir, strategy), workdir), workdir)
    return runs


def test_a_useful_source_beats_training_from_scratch(five_shot_runs):
    # Measured: scratch 0.78, freeze 0.91 (seed 0), over the 5,000 test images of classes 5-9.
    scratch, frozen = five_shot_runs["scratch"][0]["top1"], five_shot_runs["freeze"][0]["top1"]
    assert frozen >= scratch + 0.05, (frozen, scratch)


def test_frozen_layers_are_bit_identical_to_the_source_and_the_rest_trained(fashion_lenet, five_shot_runs):
    tuned = load_trained(five_shot_runs["freeze"][1]).variables["params"]
    source = fashion_lenet.variables["params"]
    for layer in ("c1", "c3", "output"):  # frozen (up to C3) or dropped (after the cut at F6)...
        for leaf in ("kernel", "bias"):
            assert np.array_equal(tuned["backbone"][layer][leaf], source[layer][leaf]), (layer, leaf)
    for layer in ("c5", "f6"):  # ...the rest moved
        assert not np.allclose(tuned["backbone"][layer]["kernel"], source[layer]["kernel"]), layer
    assert tuned["head"]["kernel"].shape == (84, 5)


def test_scratch_starts_from_random_weights(fashion_lenet, five_shot_runs):
    tuned = load_trained(five_shot_runs["scratch"][1]).variables["params"]
    assert not np.allclose(tuned["backbone"]["c1"]["kernel"], fashion_lenet.variables["params"]["c1"]["kernel"])


def test_probes_on_trained_features_beat_random_ones(fashion_lenet):
    config = _five_shot(fashion_lenet.workdir, "freeze")
    config.dataset.train_per_class = 20
    rows = {row["tap"]: row for row in probe_source(config).rows()}
    assert list(rows) == ["c1", "s2", "c3", "s4", "c5", "f6"]
    # F6 has learned these classes: its probe is far above chance (0.2) and above the same layer at random init.
    assert rows["f6"]["softmax_top1"] > 0.8 and rows["f6"]["svm_top1"] > 0.8
    assert rows["f6"]["softmax_top1"] > rows["f6"]["random_softmax_top1"] + 0.05


def test_a_source_of_another_model_is_refused(fashion_lenet, tmp_path):
    config = _five_shot(fashion_lenet.workdir, "all")
    config.model.name = "lenet5_1998"
    with pytest.raises(ConfigError, match="config.model.name is 'lenet5_1998' but the source .* trained 'lenet5'"):
        train_and_evaluate(config, str(tmp_path))


def test_a_target_the_source_cannot_take_is_refused(fashion_lenet, tmp_path):
    config = _five_shot(fashion_lenet.workdir, "all")
    config.dataset.name, config.dataset.classes, config.dataset.train_per_class = "synthetic:28x28x3:5", (), 0
    with pytest.raises(ConfigError, match="has 3-channel images but the source .* takes 1 channels"):
        train_and_evaluate(config, str(tmp_path / "rgb"))
    config.dataset.name, config.dataset.image_size = "digits", 20
    with pytest.raises(ConfigError, match="LeNet-5's C5 needs 5×5 S4 maps"):  # the model's own words
        train_and_evaluate(config, str(tmp_path / "small"))


def _launch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_launch_transfer_and_probe(fashion_lenet, tmp_path):
    workdir = str(tmp_path / "digits")
    done = _launch("transfer", "--config", f"{CONFIG}:digits", "--source", fashion_lenet.workdir, "--workdir", workdir,
                   "--config.num_train_steps=4", "--config.eval_every_steps=4", "--config.checkpoint_every_steps=4",
                   "--config.transfer.strategy=fade")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "test top1" in done.stdout
    with open(os.path.join(workdir, "config.json")) as f:
        saved = json.load(f)
    assert saved["transfer"]["source"] == fashion_lenet.workdir and saved["transfer"]["strategy"] == "fade"
    probe = _launch("probe", "--config", f"{CONFIG}:digits", "--source", fashion_lenet.workdir, "--json")
    assert probe.returncode == 0, probe.stderr[-2000:]
    rows = [json.loads(line) for line in probe.stdout.splitlines() if line.startswith("{")]
    assert [row["tap"] for row in rows] == ["c1", "s2", "c3", "s4", "c5", "f6"]


def test_launch_transfer_needs_a_source_and_a_transfer_config(tmp_path):
    missing = _launch("transfer", "--config", f"{CONFIG}:digits", "--workdir", str(tmp_path))
    assert missing.returncode != 0 and "transfer needs --config and --source and --workdir" in missing.stderr
    plain = _launch("probe", "--config", os.path.join(ROOT, "experiments", "fashion_mnist", "lenet5.py"),
                    "--source", str(tmp_path))
    assert plain.returncode == 1 and "has no config.transfer section" in plain.stderr
