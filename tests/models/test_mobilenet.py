"""MobileNet v1, v2, v3: torchvision's (v2, v3) and the paper's (v1) parameter counts, hand counts from the
papers' tables, the inverted residual block, forward and backward."""

from functools import partial

import jax
import numpy as np
import pytest
from zoo_testing import FAST_COMPILE, abstract, abstract_grads, count, norm, random_input, random_variables, real_step

import cnn.models
from cnn.layers.blocks import InvertedResidual

TORCHVISION = {"mobilenet_v2": 3_504_872, "mobilenet_v3_large": 5_483_032, "mobilenet_v3_small": 2_542_856}
# v1 (Table 1): output width and stride of the 13 depthwise separable blocks after the 3×3/2 conv to 32.
V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
# v1 Table 6: width multiplier → millions of parameters.
V1_TABLE_6 = {"mobilenet_v1": (1.0, 4.2), "mobilenet_v1_0_75": (0.75, 2.6), "mobilenet_v1_0_5": (0.5, 1.3),
              "mobilenet_v1_0_25": (0.25, 0.5)}
# v2 Table 2: expansion t, width c, repeats n, stride s; stem 32, head 1280.
V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
# v3 Tables 1 and 2: kernel, expanded width, output width, SE squeeze width (torchvision's
# make_divisible(exp // 4, 8); 0: no SE), stride; stem 16; head 6 × the last width; hidden FC.
V3_LARGE = [(3, 16, 16, 0, 1), (3, 64, 24, 0, 2), (3, 72, 24, 0, 1), (5, 72, 40, 24, 2), (5, 120, 40, 32, 1),
            (5, 120, 40, 32, 1), (3, 240, 80, 0, 2), (3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1),
            (3, 480, 112, 120, 1), (3, 672, 112, 168, 1), (5, 672, 160, 168, 2), (5, 960, 160, 240, 1),
            (5, 960, 160, 240, 1)]
V3_SMALL = [(3, 16, 16, 8, 2), (3, 72, 24, 0, 2), (3, 88, 24, 0, 1), (5, 96, 40, 24, 2), (5, 240, 40, 64, 1),
            (5, 240, 40, 64, 1), (5, 120, 48, 32, 1), (5, 144, 48, 40, 1), (5, 288, 96, 72, 2),
            (5, 576, 96, 144, 1), (5, 576, 96, 144, 1)]
V3 = {"mobilenet_v3_large": (V3_LARGE, 1280), "mobilenet_v3_small": (V3_SMALL, 1024)}


def v1_count(alpha, classes=1000):
    c = int(32 * alpha)
    total = 27 * c + 2 * c
    for width, _ in V1:
        width = int(width * alpha)
        total += 9 * c + 2 * c + c * width + 2 * width  # depthwise + BN, pointwise + BN
        c = width
    return total + (c + 1) * classes


def v2_count(classes=1000):
    c, total = 32, 27 * 32 + 2 * 32
    for t, width, n, _ in V2:
        for _ in range(n):
            e = t * c
            total += (c * e + 2 * e if t != 1 else 0) + 9 * e + 2 * e + e * width + 2 * width
            c = width
    return total + c * 1280 + 2 * 1280 + 1281 * classes


def v3_count(blocks, hidden, classes=1000):
    c, total = 16, 27 * 16 + 2 * 16
    for k, e, width, squeeze, _ in blocks:
        total += (c * e + 2 * e if e != c else 0) + k * k * e + 2 * e + e * width + 2 * width
        total += (e * squeeze + squeeze + squeeze * e + e) if squeeze else 0  # SE: two 1×1 convs with bias
        c = width
    head = 6 * c
    return total + c * head + 2 * head + (head + 1) * hidden + (hidden + 1) * classes


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_parameter_count_equals_torchvision_and_the_hand_count(name):
    _, variables, _ = abstract(name, 224)
    hand = v2_count() if name == "mobilenet_v2" else v3_count(*V3[name])
    assert count(variables) == TORCHVISION[name] == hand


@pytest.mark.parametrize("name", sorted(V1_TABLE_6))
def test_v1_parameter_count_is_the_hand_count_and_the_papers_table_6(name):
    alpha, millions = V1_TABLE_6[name]
    _, variables, _ = abstract(name, 224)
    assert count(variables) == v1_count(alpha)
    assert round(count(variables) / 1e6, 1) == millions
    if alpha == 1.0:
        assert count(variables) == 4_231_976  # Keras MobileNet's trainable parameters


@pytest.mark.parametrize("name", sorted(V3))
def test_v3_squeeze_widths_are_torchvisions(name):
    _, variables, _ = abstract(name, 224)
    params = variables["params"]
    widths = {i: params[f"block{i}"]["se"]["reduce"]["kernel"].shape[2:]
              for i in range(1, len(V3[name][0]) + 1) if "se" in params[f"block{i}"]}
    assert widths == {i: (e, squeeze) for i, (_, e, _, squeeze, _) in enumerate(V3[name][0], start=1) if squeeze}


STAGES = {  # the last map at strides 2, 4, 8, 16, 32, then the head conv (v2, v3) and the pooled features
    "mobilenet_v1": {"stem": 32, "stage1": 64, "stage2": 128, "stage3": 256, "stage4": 512, "stage5": 1024,
                     "features": 1024},
    "mobilenet_v2": {"stem": 32, "stage1": 16, "stage2": 24, "stage3": 32, "stage4": 96, "stage5": 320,
                     "head": 1280, "features": 1280},
    "mobilenet_v3_large": {"stem": 16, "stage1": 16, "stage2": 24, "stage3": 40, "stage4": 112, "stage5": 160,
                           "head": 960, "features": 960},
    "mobilenet_v3_small": {"stem": 16, "stage1": 16, "stage2": 16, "stage3": 24, "stage4": 48, "stage5": 96,
                           "head": 576, "features": 576},
}


def _tap_shapes(taps):
    return {name: tap.shape[1:] for name, tap in taps.items()}


def _expected_shapes(widths):
    sizes = {"stem": 112, "stage1": 112, "stage2": 56, "stage3": 28, "stage4": 14, "stage5": 7, "head": 7}
    return {name: (width,) if name == "features" else (sizes[name], sizes[name], width)
            for name, width in widths.items()}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_forward_backward_at_224(name):
    model, shapes, x = abstract(name, 224)
    value, taps, stats, grads = real_step(model, random_variables(shapes), random_input(x.shape))
    assert np.isfinite(value)
    assert _tap_shapes(taps) == _expected_shapes(STAGES[name])
    norms = {layer: norm(g) for layer, g in grads.items()}
    assert all(np.isfinite(n) and n > 0 for n in norms.values()), norms
    assert not np.allclose(stats["stem"]["bn"]["mean"], 0)


@pytest.mark.parametrize("name", ["mobilenet_v1_0_75", "mobilenet_v1_0_5", "mobilenet_v1_0_25"])
def test_abstract_forward_backward_of_narrow_v1(name):
    alpha = V1_TABLE_6[name][0]
    model, variables, x = abstract(name, 224)
    grads, (logits, taps) = abstract_grads(model, variables, x)
    assert jax.tree.map(lambda g: g.shape, grads) == jax.tree.map(lambda p: p.shape, variables["params"])
    assert logits.shape == (1, 1000)
    assert _tap_shapes(taps) == _expected_shapes({k: int(w * alpha) for k, w in STAGES["mobilenet_v1"].items()})


@pytest.mark.parametrize("features, expanded, stride, residual", [
    (8, 48, 1, True), (8, 8, 1, True), (16, 48, 1, False), (8, 48, 2, False)])
def test_inverted_residual_adds_the_input_only_at_stride_1_and_equal_width(features, expanded, stride, residual):
    block = InvertedResidual(features, expanded, stride=stride, se_squeeze=4)
    x = random_input((1, 8, 8, 8))
    variables = random_variables(jax.eval_shape(partial(block.init, train=False), jax.random.key(0), x))
    assert ("expand" in variables["params"]) == (expanded != 8)  # t = 1 has no expansion
    # A zero projection BN (γ = β = 0) zeroes the branch: the block is then x or 0.
    variables["params"]["project"]["bn"]["scale"] = np.zeros(features, np.float32)
    variables["params"]["project"]["bn"]["bias"] = np.zeros(features, np.float32)
    y = jax.jit(partial(block.apply, train=False), compiler_options=FAST_COMPILE)(variables, x)
    np.testing.assert_array_equal(y, x if residual else np.zeros_like(y))


def test_unknown_padding_style_is_refused():
    with pytest.raises(ValueError, match="padding_style must be 'torch' or 'tf', got 'keras'"):
        abstract("mobilenet_v2", 32, padding_style="keras")


def test_registered_names():
    assert {*V1_TABLE_6, *TORCHVISION} <= set(cnn.models.names())
    assert cnn.models.spec("mobilenet_v3_small").input_shape == (224, 224, 3)
