import os

import flax.linen as nn
import jax
import matplotlib.image
import numpy as np
import pytest

from cnn.config import load_config
from cnn.models import create
from cnn.train import train_and_evaluate
from cnn.train.metrics import read_metrics
from cnn.train.trained import load_trained
from cnn.viz.kernels import (
    Snapshot,
    conv_kernel,
    conv_layers,
    filter_evolution,
    filter_tiles,
    first_conv_kernel,
    first_conv_layer,
    plot_filter_evolution,
    plot_filters,
)
from tests.viz.weights import random_variables

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "fashion_mnist", "lenet5.py")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 0 and image.shape[1] > 0


def _per_filter_minmax(kernel):
    """Independent reference: each output filter o stretched from its own min to its max, filter by filter."""
    out = np.full(kernel.shape, 0.5)  # a constant filter stays mid-grey
    for o in range(kernel.shape[-1]):
        w = kernel[..., o].astype(np.float64)
        if w.max() > w.min():
            out[..., o] = (w - w.min()) / (w.max() - w.min())
    return out


class LateStem(nn.Module):
    """Its stem, the convolution that reads the image, sorts last among its parameters."""

    @nn.compact
    def __call__(self, x, train=False):
        x = nn.Conv(4, (3, 3), name="z_stem")(x)
        x = nn.Conv(8, (1, 1), name="b_mix")(x)
        x = nn.Dense(5, name="a_head")(x.mean(axis=(1, 2)))
        return x, {}


def test_the_first_convolution_is_the_one_that_reads_the_image_not_the_alphabetically_first():
    lenet = create("lenet5", num_classes=10)
    variables = random_variables(lenet, (28, 28, 1))
    assert first_conv_layer(lenet, (28, 28, 1)) == "c1"
    kernel = first_conv_kernel(lenet, variables, (28, 28, 1))
    assert kernel.shape == (5, 5, 1, 6)
    np.testing.assert_array_equal(kernel, variables["params"]["c1"]["kernel"])

    resnet = create("resnet18", num_classes=10)
    variables = random_variables(resnet, (32, 32, 3))
    first_by_sorted_keys = next(p for p, v in jax.tree_util.tree_leaves_with_path(variables["params"])
                                if v.ndim == 4)
    assert first_by_sorted_keys[0].key != "stem_conv"  # so the test tells creation order from key order
    assert first_conv_layer(resnet, (32, 32, 3)) == "stem_conv"
    kernel = first_conv_kernel(resnet, variables, (32, 32, 3))
    assert kernel.shape == (7, 7, 3, 64)
    np.testing.assert_array_equal(kernel, variables["params"]["stem_conv"]["kernel"])

    late = LateStem()
    variables = random_variables(late, (8, 8, 3))
    assert conv_layers(late, (8, 8, 3)) == ["z_stem", "b_mix"]  # the Dense's kernel is not a convolution's
    np.testing.assert_array_equal(first_conv_kernel(late, variables, (8, 8, 3)),
                                  variables["params"]["z_stem"]["kernel"])


def test_a_named_convolution_is_found_by_its_module_path_and_anything_else_is_refused_by_name():
    resnet = create("resnet18", num_classes=10)
    variables = random_variables(resnet, (32, 32, 3))
    layers = conv_layers(resnet, (32, 32, 3))
    assert layers[:3] == ["stem_conv", "stage1_block1/conv1", "stage1_block1/conv2"] and len(layers) == 20
    kernel = conv_kernel(variables, "stage1_block1/conv2")
    np.testing.assert_array_equal(kernel, variables["params"]["stage1_block1"]["conv2"]["kernel"])
    with pytest.raises(ValueError, match="no 2D convolution kernel at 'stage1_block1/conv9'.*'stem_conv'"):
        conv_kernel(variables, "stage1_block1/conv9")
    with pytest.raises(ValueError, match="no 2D convolution kernel at 'head'"):
        conv_kernel(variables, "head")  # a Dense: rank-2 kernel
    with pytest.raises(ValueError, match="no 'params'"):
        conv_kernel(variables["params"], "stem_conv")


def test_rgb_tiles_are_each_filter_stretched_to_its_own_range():
    kernel = np.random.default_rng(0).normal(size=(7, 7, 3, 64)) * np.linspace(0.1, 5, 64)
    tiles = filter_tiles(kernel)
    assert tiles.shape == (64, 7, 7, 3)
    np.testing.assert_allclose(tiles, _per_filter_minmax(kernel).transpose(3, 0, 1, 2), atol=1e-12)
    assert tiles.reshape(64, -1).min(1).max() == 0 and tiles.reshape(64, -1).max(1).min() == 1


def test_grey_tiles_for_one_input_channel_and_for_deep_kernels():
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(5, 5, 1, 6)).astype(np.float32)
    kernel[..., 2] = 0.25  # a constant filter is mid-grey, not a division by zero
    expected = _per_filter_minmax(kernel)[:, :, 0].transpose(2, 0, 1)
    assert (expected[2] == 0.5).all()
    tiles = filter_tiles(kernel)
    assert tiles.shape == (6, 5, 5)
    np.testing.assert_allclose(tiles, expected, atol=1e-6)

    deep = rng.normal(size=(3, 3, 4, 5))
    reference = _per_filter_minmax(deep)  # one scale per filter, shared by its input channels
    tiles = filter_tiles(deep)
    assert tiles.shape == (4, 5, 3, 3)
    for c in range(4):
        for o in range(5):
            np.testing.assert_allclose(tiles[c, o], reference[:, :, c, o], atol=1e-12)
    np.testing.assert_array_equal(filter_tiles(deep, input_channel=2), tiles[2])
    with pytest.raises(ValueError, match="input_channel 4 is out of range.*0 to 3"):
        filter_tiles(deep, input_channel=4)
    with pytest.raises(ValueError, match=r"\(kh, kw, C_in, C_out\), got shape \(3, 3, 4\)"):
        filter_tiles(deep[..., 0])


def test_filter_plots_are_pngs(tmp_path):
    rng = np.random.default_rng(2)
    _assert_png(plot_filters(rng.normal(size=(7, 7, 3, 10)), str(tmp_path / "rgb.png"), "conv1"))
    _assert_png(plot_filters(rng.normal(size=(5, 5, 1, 6)), str(tmp_path / "grey.png")))
    _assert_png(plot_filters(rng.normal(size=(3, 3, 4, 5)), str(tmp_path / "deep.png")))
    _assert_png(plot_filters(rng.normal(size=(3, 3, 4, 5)), str(tmp_path / "slice.png"), input_channel=1))
    deep = [Snapshot(s, s / 6, rng.normal(size=(3, 3, 4, 5))) for s in (6, 12)]
    with pytest.raises(ValueError, match="pass input_channel"):
        plot_filter_evolution(deep, str(tmp_path / "evolution.png"))
    _assert_png(plot_filter_evolution(deep, str(tmp_path / "evolution.png"), input_channel=0))
    assert not os.path.exists(tmp_path / "evolution.png.tmp.png")


@pytest.fixture(scope="module")
def three_epoch_run(tmp_path_factory, shared_tiny_data_dir):
    """LeNet-5 trained 3 epochs of 6 steps on the tiny set, a checkpoint at the end of each epoch, all kept."""
    config = load_config(CONFIG)
    config.dataset.data_dir = str(shared_tiny_data_dir)
    config.schedule.warmup_epochs = 0.0
    config.update({"batch_size": 16, "num_epochs": 3, "log_every_steps": 100, "keep_checkpoints": 3})
    workdir = str(tmp_path_factory.mktemp("kernels_run"))
    train_and_evaluate(config, workdir)
    return workdir


def test_filter_evolution_has_the_first_kernel_at_every_kept_checkpoint(three_epoch_run, tmp_path):
    evolution = filter_evolution(three_epoch_run)
    on_disk = sorted(int(d) for d in os.listdir(os.path.join(three_epoch_run, "checkpoints")) if d.isdigit())
    assert [s.step for s in evolution] == on_disk == [6, 12, 18]
    epochs = {r["step"]: r["epoch"] for r in read_metrics(three_epoch_run)}
    assert [s.epoch for s in evolution] == [epochs[6], epochs[12], epochs[18]] == [1, 2, 3]
    assert all(s.kernel.shape == (5, 5, 1, 6) for s in evolution)
    for earlier, later in zip(evolution, evolution[1:]):
        assert not np.array_equal(earlier.kernel, later.kernel)
    latest = load_trained(three_epoch_run).variables["params"]["c1"]["kernel"]
    np.testing.assert_array_equal(evolution[-1].kernel, latest)
    _assert_png(plot_filter_evolution(evolution, str(tmp_path / "evolution.png"), "lenet5 c1"))

    c3 = filter_evolution(three_epoch_run, layer="c3")
    assert [s.step for s in c3] == on_disk and c3[0].kernel.shape == (5, 5, 6, 16)
    with pytest.raises(ValueError, match="no 2D convolution kernel at 'f6'"):
        filter_evolution(three_epoch_run, layer="f6")
