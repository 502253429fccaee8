"""Deep fried convnets: hand counts against the paper's tables, the reference nets' map sizes, Caffe's LRN
computed in numpy, and a real training step of the MNIST network."""

import jax
import numpy as np
import pytest

import cnn.models
from zoo_testing import FAST_COMPILE, abstract, abstract_grads, conv, count, dense, random_input, real_step




def fastfood(d, blocks, n):
    return 3 * d * blocks + n


CAFFENET_CONVS = (conv(11, 3, 96) + conv(5, 96, 256, groups=2) + conv(3, 256, 384) + conv(3, 384, 384, groups=2)
                  + conv(3, 384, 256, groups=2))
LENET_CONVS = conv(5, 1, 20) + conv(5, 20, 50)
HAND_COUNTS = {
    # 6×6×256 = 9216 features padded to d = 16384; n = 16384, one block, then fc8.
    ("deep_fried_alexnet", 16384): CAFFENET_CONVS + fastfood(16384, 1, 16384) + dense(16384, 1000),
    ("deep_fried_alexnet", 32768): CAFFENET_CONVS + fastfood(16384, 2, 32768) + dense(32768, 1000),
    # 4×4×50 = 800 features padded to d = 1024.
    ("deep_fried_mnist", 1024): LENET_CONVS + fastfood(1024, 1, 1024) + dense(1024, 10),
    ("deep_fried_mnist", 2048): LENET_CONVS + fastfood(1024, 2, 2048) + dense(2048, 10),
}


def _abstract(name, fastfood_features=None, size=None, batch=1):
    spec = cnn.models.spec(name)
    overrides = {} if fastfood_features is None else {"fastfood_features": fastfood_features}
    return abstract(name, size or spec.input_shape[0], batch, spec.num_classes, **overrides)


def _weights(params) -> int:
    """Weights as the paper counts them: kernels and Fastfood diagonals, no biases."""
    return sum(leaf.size for path, leaf in jax.tree_util.tree_leaves_with_path(params) if path[-1].key != "bias")


@pytest.mark.parametrize("name, n", sorted(HAND_COUNTS))
def test_parameter_count_is_the_hand_count(name, n):
    _, variables, _ = _abstract(name, n)
    assert set(variables) == {"params"}  # the Fastfood permutations are no variables
    assert count(variables) == HAND_COUNTS[name, n]


def test_defaults_and_the_papers_weight_counts():
    assert HAND_COUNTS["deep_fried_alexnet", 16384] == 18_784_616
    assert HAND_COUNTS["deep_fried_mnist", 1024] == 39_916
    params = {n: _abstract("deep_fried_mnist", n)[1]["params"] for n in (1024, 2048)}
    # Table 1 of Yang et al.: 52,124 for Fastfood 2048 (and 38,821 printed for 1024, see the model docstring).
    assert _weights(params[2048]) == 52_124 and _weights(params[1024]) == 38_812
    # Caffe's LeNet, the paper's reference: 430,500 weights, 11× more.
    assert 5 * 5 * 20 + 5 * 5 * 20 * 50 + 800 * 500 + 500 * 10 == 430_500
    # ImageNet: 16.4M above the convolutions for Adaptive Fastfood 16.
    above_convs = {k: v for k, v in _abstract("deep_fried_alexnet")[1]["params"].items() if not k.startswith("conv")}
    assert _weights(above_convs) == 16_433_152


def test_maps_are_the_reference_nets():
    expected = {
        "deep_fried_alexnet": {"conv1": (55, 55, 96), "pool1": (27, 27, 96), "norm1": (27, 27, 96),
                               "conv2": (27, 27, 256), "pool2": (13, 13, 256), "norm2": (13, 13, 256),
                               "conv3": (13, 13, 384), "conv4": (13, 13, 384), "conv5": (13, 13, 256),
                               "pool5": (6, 6, 256), "fastfood": (16384,), "features": (16384,)},
        "deep_fried_mnist": {"conv1": (24, 24, 20), "pool1": (12, 12, 20), "conv2": (8, 8, 50), "pool2": (4, 4, 50),
                             "fastfood": (1024,), "features": (1024,)},
    }
    for name, shapes in expected.items():
        model, variables, x = _abstract(name)
        logits, taps = jax.eval_shape(model.apply, variables, x)
        assert {k: v.shape[1:] for k, v in taps.items()} == shapes
        assert logits.shape == (1, cnn.models.spec(name).num_classes)
        # Only the classifier is dense: fc6 and fc7 are gone.
        assert sorted(variables["params"]) == sorted([k for k in shapes if k.startswith("conv")]
                                                     + ["fastfood", "classifier"])


def test_alexnet_gradients_have_the_shapes_of_the_parameters():
    model, variables, x = _abstract("deep_fried_alexnet", batch=2)
    grads, (logits, _) = abstract_grads(model, variables, x)
    assert jax.tree.map(lambda g: g.shape, grads) == jax.tree.map(lambda v: v.shape, variables["params"])
    assert logits.shape == (2, 1000)


def test_caffenet_lrn_is_caffes():
    """b = a / (1 + (1e-4/5) Σ_{5 maps} a²)^0.75 on the pooled conv1 maps, at 67 px (conv1 15, pool1 7)."""
    model = cnn.models.create("deep_fried_alexnet", num_classes=10, fastfood_features=256)
    x = random_input((1, 67, 67, 3)) * 30  # large activations, so that the normalisation matters
    variables = jax.jit(model.init, compiler_options=FAST_COMPILE)(jax.random.key(0), x)
    _, taps = jax.jit(model.apply, compiler_options=FAST_COMPILE)(variables, x)
    a = np.asarray(taps["pool1"], np.float64)
    energy = np.stack([np.sum(a[..., max(0, i - 2):i + 3] ** 2, axis=-1) for i in range(96)], axis=-1)
    expected = a / (1 + 1e-4 / 5 * energy) ** 0.75
    assert not np.allclose(expected, a, rtol=1e-2)
    np.testing.assert_allclose(taps["norm1"], expected, rtol=1e-5)


def test_mnist_network_trains_for_real():
    model = cnn.models.create("deep_fried_mnist", num_classes=10)
    x = random_input((4, 28, 28, 1))
    variables = jax.jit(model.init, compiler_options=FAST_COMPILE)(jax.random.key(0), x)
    loss, taps, batch_stats, grads = real_step(model, variables, x)
    assert np.isfinite(float(loss)) and batch_stats == {}
    assert np.all(np.asarray(taps["fastfood"]) >= 0) and np.any(np.asarray(taps["fastfood"]) > 0)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert np.any(np.asarray(g) != 0), path
    # G feeds every output through the two transforms; B_i multiplies input i, zero padding past the 800 features
    # (S_i reaches only output i, which ReLU or dropout may cut).
    b, g = (np.asarray(grads["fastfood"][k]) for k in "BG")
    assert np.all(g != 0) and np.all(b[:800] != 0) and np.all(b[800:] == 0)
