"""DenseNet-BC: torchvision's parameter counts, the paper's Table 1 shapes and CIFAR model, forward and backward."""

from __future__ import annotations

from functools import partial

import jax
import numpy as np
import pytest

import cnn.models
from zoo_testing import FAST_COMPILE, abstract, abstract_grads, count, norm, random_input, random_variables, real_step

# torchvision's published parameter counts (1000 classes).
TORCHVISION = {"densenet121": 7_978_856, "densenet169": 14_149_480, "densenet201": 20_013_928,
               "densenet161": 28_681_000}
# Paper Table 1: (growth rate k, layers per block, initial features 2k); DenseNet-161 is k = 48 with 96.
CONFIG = {"densenet121": (32, (6, 12, 24, 16), 64), "densenet169": (32, (6, 12, 32, 32), 64),
          "densenet201": (32, (6, 12, 48, 32), 64), "densenet161": (48, (6, 12, 36, 24), 96)}


def hand_count(k, blocks, c, classes=1000, stem=(7, True)):
    """γ, β per BN channel; bottleneck 4k; transitions halve; no conv biases."""
    kernel, stem_bn = stem
    total = kernel * kernel * 3 * c + (2 * c if stem_bn else 0)
    for i, n in enumerate(blocks):
        for _ in range(n):
            total += 2 * c + c * 4 * k + 2 * 4 * k + 9 * 4 * k * k
            c += k
        if i < len(blocks) - 1:
            total += 2 * c + c * (c // 2)
            c //= 2
    return total + 2 * c + (c + 1) * classes


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_parameter_count_equals_torchvision_and_the_hand_count(name):
    _, variables, _ = abstract(name, 224)
    assert count(variables) == TORCHVISION[name] == hand_count(*CONFIG[name])


def test_densenet_bc_100_12_has_the_papers_0_8m_parameters():
    # (100 − 4)/6 = 16 bottleneck layers per block; the stem is one 3×3 conv to 2k = 24 maps, no BN.
    _, variables, _ = abstract("densenet_bc_100_12", 32, num_classes=10)
    assert count(variables) == hand_count(12, (16, 16, 16), 24, classes=10, stem=(3, False)) == 769_162
    assert round(count(variables) / 1e6, 1) == 0.8


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_abstract_forward_backward_at_224_gives_table_1_sizes(name):
    k, blocks, c = CONFIG[name]
    model, variables, x = abstract(name, 224)
    grads, (logits, taps) = abstract_grads(model, variables, x)
    assert jax.tree.map(lambda g: g.shape, grads) == jax.tree.map(lambda p: p.shape, variables["params"])
    assert logits.shape == (1, 1000)
    # Table 1: 56×56 after the stem, 28, 14 and 7 after each transition; widths c + n·k, halved.
    expected = {"stem": (56, 56, c)}
    for i, (n, size) in enumerate(zip(blocks, (56, 28, 14, 7)), start=1):
        c += n * k
        expected[f"block{i}"] = (size, size, c)
        if i < 4:
            c //= 2
            expected[f"transition{i}"] = (size // 2, size // 2, c)
    expected["features"] = (c,)
    assert {name: tap.shape[1:] for name, tap in taps.items()} == expected


def test_densenet_bc_forward_backward_at_32_concatenates_every_layer():
    model, shapes, x = abstract("densenet_bc_100_12", 32, batch=2, num_classes=10)
    x = random_input(x.shape)
    value, taps, stats, grads = real_step(model, random_variables(shapes), x)
    assert np.isfinite(value)
    assert {name: tap.shape[1:] for name, tap in taps.items()} == {
        "stem": (32, 32, 24), "block1": (32, 32, 216), "transition1": (16, 16, 108), "block2": (16, 16, 300),
        "transition2": (8, 8, 150), "block3": (8, 8, 342), "features": (342,)}
    # A dense block passes its input on unchanged in front of the 16 · 12 new maps.
    np.testing.assert_array_equal(taps["block1"][..., :24], taps["stem"])
    np.testing.assert_array_equal(taps["block2"][..., :108], taps["transition1"])
    layers = grads["denseblock3"]
    assert all(norm(layers[f"denselayer{i}"]) > 0 for i in range(1, 17))
    assert norm(grads["conv0"]) > 0
    assert not np.allclose(stats["denseblock1"]["denselayer1"]["norm1"]["mean"], 0)


def test_densenet121_forward_backward_at_64():
    model, shapes, x = abstract("densenet121", 64, batch=2, num_classes=10)
    x = random_input(x.shape)
    value, taps, _, grads = real_step(model, random_variables(shapes), x)
    assert np.isfinite(value) and taps["block4"].shape == (2, 2, 2, 1024)
    norms = {name: norm(g) for name, g in grads.items()}
    assert all(np.isfinite(n) and n > 0 for n in norms.values()), norms


def test_drop_rate_drops_new_maps_in_training_only():
    model = cnn.models.create("densenet_bc_100_12", num_classes=10, block_config=(2, 2), drop_rate=0.5)
    x = random_input((2, 8, 8, 3))
    variables = random_variables(jax.eval_shape(model.init, jax.random.key(0), x))

    @partial(jax.jit, static_argnames="train", compiler_options=FAST_COMPILE)
    def block1(key, train):
        (_, taps), _ = model.apply(variables, x, train=train, rngs={"dropout": key}, mutable=["batch_stats"])
        return taps["block1"]

    # Block 1 is the 24 stem maps, then 2 · 12 new ones.
    dropped = np.asarray(block1(jax.random.key(1), True)[..., 24:]) == 0
    assert 0.3 < dropped.mean() < 0.7
    np.testing.assert_array_equal(block1(jax.random.key(1), True)[..., :24], block1(jax.random.key(2), True)[..., :24])
    assert np.mean(np.asarray(block1(jax.random.key(1), False)[..., 24:]) == 0) < 0.05


def test_unknown_stem_is_refused():
    with pytest.raises(ValueError, match="stem must be 'imagenet' or 'cifar', got 'tiny'"):
        abstract("densenet121", 32, stem="tiny")


def test_registered_names():
    assert {*TORCHVISION, "densenet_bc_100_12"} <= set(cnn.models.names())
    assert cnn.models.spec("densenet_bc_100_12").input_shape == (32, 32, 3)
    assert cnn.models.spec("densenet_bc_100_12").num_classes == 10
    assert cnn.models.spec("densenet161").input_shape == (224, 224, 3)
