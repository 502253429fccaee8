"""SENet: parameter counts against a hand count and Hu et al. 2018's tables, MACs against the paper's GFLOPs,
the gate's arithmetic against numpy, and training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnn.models
from cnn.analysis import summarize
from cnn.models.resnet import Bottleneck
from cnn.models.senet import SEBottleneck
from zoo_testing import FAST_COMPILE, abstract_grads, count, norm, random_input, random_variables, real_step

# torchvision's published counts of the underlying nets (1000 classes).
TORCHVISION = {"resnet50": 25_557_032, "resnet101": 44_549_160, "resnext50_32x4d": 25_028_904}
# name: (the plain net, blocks per stage, Hu et al. 2018 Table 2 params in millions, Table 2 GFLOPs, stride_in_1x1
# of the paper's model: its Caffe SE-ResNets stride in the first 1×1, SE-ResNeXt in the 3×3 as ResNeXt).
PAPER = {"se_resnet50": ("resnet50", (3, 4, 6, 3), 28.1, 3.87, True),
         "se_resnet101": ("resnet101", (3, 4, 23, 3), 49.3, 7.60, True),
         "se_resnext50_32x4d": ("resnext50_32x4d", (3, 4, 6, 3), 27.6, 4.25, False)}


def _se_hand_count(sizes):
    """Σ over blocks of the gate's 2·C·(C/16) + C/16 + C, C = 4·planes the block's output channels."""
    total = 0
    for n, planes in zip(sizes, (64, 128, 256, 512)):
        c = 4 * planes
        total += n * (2 * c * (c // 16) + c // 16 + c)
    return total


def _params(name, size=224, **overrides):
    model = cnn.models.create(name, num_classes=1000, **overrides)
    return jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, size, size, 3)))["params"]


@pytest.mark.parametrize("name", sorted(PAPER))
def test_parameter_counts_equal_the_hand_count_and_the_paper(name):
    plain, sizes, millions, _, _ = PAPER[name]
    params = _params(name)
    assert count({"params": params}) == TORCHVISION[plain] + _se_hand_count(sizes)
    assert round(count({"params": params}) / 1e6, 1) == millions
    assert params["stage4_block3"]["se"]["reduce"]["kernel"].shape == (1, 1, 2048, 128)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_macs_are_the_papers_gflops(name):
    *_, gflops, stride_in_1x1 = PAPER[name]
    macs = summarize(name, stride_in_1x1=stride_in_1x1).macs
    assert macs == pytest.approx(gflops * 1e9, rel=0.02)


def test_gate_scales_the_branch_after_its_last_bn_before_the_sum():
    block = SEBottleneck(64, reduction=16)
    x = random_input((2, 6, 6, 64))
    variables = random_variables(jax.eval_shape(lambda x: block.init(jax.random.key(0), x, False), x))
    rng = np.random.default_rng(3)
    # Non-trivial BN β and gate biases, so a gate that is skipped or misplaced changes the numbers.
    params = jax.tree.map(np.asarray, variables["params"])
    params["bn3"]["bias"] = rng.normal(size=64).astype(np.float32)
    params["se"]["reduce"]["bias"] = rng.normal(size=4).astype(np.float32)
    params["se"]["expand"]["bias"] = rng.normal(size=64).astype(np.float32)
    variables = {**variables, "params": params}
    apply = jax.jit(lambda v, x: block.apply(v, x, False, capture_intermediates=True), compiler_options=FAST_COMPILE)
    y, state = apply(variables, x)
    u = np.asarray(state["intermediates"]["bn3"]["__call__"][0], np.float64)
    # numpy: s = σ(W₂ relu(W₁ mean(u) + b₁) + b₂), y = relu(x + u·s).
    se = params["se"]
    z = np.maximum(u.mean(axis=(1, 2)) @ se["reduce"]["kernel"][0, 0] + se["reduce"]["bias"], 0)
    s = 1 / (1 + np.exp(-(z @ se["expand"]["kernel"][0, 0] + se["expand"]["bias"])))
    expected = np.maximum(x + u * s[:, None, None, :], 0)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(s - 1).max() > 0.05  # the gate really rescales

    # An open gate (σ = 1) leaves the plain bottleneck with the same weights.
    params["se"]["expand"]["bias"] = np.full(64, 1e4, np.float32)
    plain_vars = {**variables, "params": {k: v for k, v in params.items() if k != "se"}}
    plain = jax.jit(lambda v, x: Bottleneck(64).apply(v, x, False), compiler_options=FAST_COMPILE)(plain_vars, x)
    np.testing.assert_allclose(apply({**variables, "params": params}, x)[0], plain, rtol=1e-5, atol=1e-5)


def test_pre_activation_is_refused():
    with pytest.raises(ValueError, match="pre-activation"):
        _params("se_resnet50", size=32, preact=True)


def test_se_resnet50_trains_at_64():
    model = cnn.models.create("se_resnet50", num_classes=1000)
    x = random_input((1, 64, 64, 3))
    variables = random_variables(jax.eval_shape(model.init, jax.random.key(0), x))
    loss, taps, _, grads = real_step(model, variables, x)
    assert np.isfinite(float(loss)) and taps["features"].shape == (1, 2048)
    assert norm(grads["stage4_block3"]["se"]) > 0 and norm(grads["stage1_block1"]["se"]) > 0


@pytest.mark.parametrize("name", ["se_resnet101", "se_resnext50_32x4d"])
def test_gradients_trace_for_the_others(name):
    model = cnn.models.create(name, num_classes=1000)
    x = jnp.zeros((1, 64, 64, 3))
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    grads, (logits, _) = abstract_grads(model, variables, x)
    assert logits.shape == (1, 1000)
    assert jax.tree.map(lambda g: g.shape, grads) == jax.tree.map(lambda p: p.shape, variables["params"])
