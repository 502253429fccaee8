"""EfficientNet B0–B7: torchvision's parameter counts, the paper's B0 table scaled by hand, the stochastic depth
schedule, the MBConv residual with stochastic depth, forward and backward."""

from functools import partial

import flax.linen as nn
import jax
import numpy as np
import pytest
from zoo_testing import FAST_COMPILE, abstract, abstract_grads, count, norm, random_input, random_variables, real_step

import cnn.models
from cnn.layers.blocks import InvertedResidual

# torchvision's num_params (efficientnet_bN weights' meta), 1000 classes.
TORCHVISION = [5_288_548, 7_794_184, 9_109_994, 12_233_232, 19_341_616, 30_389_784, 43_040_704, 66_347_960]
# B0 (the paper's Table 1, stages 2–8): expansion, kernel, first stride of the seven MBConv stages.
B0 = [(1, 3, 1), (6, 3, 2), (6, 5, 2), (6, 3, 2), (6, 5, 1), (6, 5, 2), (6, 3, 1)]
# Per variant, scaled by hand from Table 1 with the paper's (w, d): stem width, then (repeats ⌈n·d⌉, width
# make_divisible(c·w, 8)) per stage, head width 4 × the last. The same as torchvision's and Keras's models.
SCALED = {
    0: (32, [(1, 16), (2, 24), (2, 40), (3, 80), (3, 112), (4, 192), (1, 320)], 1280),
    1: (32, [(2, 16), (3, 24), (3, 40), (4, 80), (4, 112), (5, 192), (2, 320)], 1280),
    2: (32, [(2, 16), (3, 24), (3, 48), (4, 88), (4, 120), (5, 208), (2, 352)], 1408),
    3: (40, [(2, 24), (3, 32), (3, 48), (5, 96), (5, 136), (6, 232), (2, 384)], 1536),
    4: (48, [(2, 24), (4, 32), (4, 56), (6, 112), (6, 160), (8, 272), (2, 448)], 1792),
    5: (48, [(3, 24), (5, 40), (5, 64), (7, 128), (7, 176), (9, 304), (3, 512)], 2048),
    6: (56, [(3, 32), (6, 40), (6, 72), (8, 144), (8, 200), (11, 344), (3, 576)], 2304),
    7: (64, [(4, 32), (7, 48), (7, 80), (10, 160), (10, 224), (13, 384), (4, 640)], 2560),
}
RESOLUTION = [224, 240, 260, 300, 380, 456, 528, 600]  # the paper's and torchvision's crops
DROPOUT = [0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5]  # torchvision's (the paper: 0.2 for B0 rising to 0.5 for B7)


def blocks(n):
    """(input width, expanded width, kernel, stride, squeeze, output width) of every MBConv block, in order."""
    c, rows = SCALED[n][0], []
    for (t, k, s), (repeats, width) in zip(B0, SCALED[n][1]):
        for j in range(repeats):
            rows.append((c, t * c, k, s if j == 0 else 1, max(1, c // 4), width))
            c = width
    return rows


def hand_count(n, classes=1000):
    stem, head = SCALED[n][0], SCALED[n][2]
    total = 27 * stem + 2 * stem
    for c, e, k, _, s, out in blocks(n):
        total += (c * e + 2 * e if e != c else 0) + k * k * e + 2 * e  # expansion + BN, depthwise + BN
        total += e * s + s + s * e + e  # squeeze-and-excitation: two 1×1 convolutions with bias
        total += e * out + 2 * out  # projection + BN
    return total + SCALED[n][1][-1][1] * head + 2 * head + (head + 1) * classes


@pytest.mark.parametrize("n", range(8))
def test_parameter_count_equals_torchvision_and_the_hand_count(n):
    _, variables, _ = abstract(f"efficientnet_b{n}", RESOLUTION[n])
    assert count(variables) == TORCHVISION[n] == hand_count(n)


@pytest.mark.parametrize("n", range(8))
def test_layers_follow_the_scaled_table(n):
    params = abstract(f"efficientnet_b{n}", RESOLUTION[n])[1]["params"]
    assert params["stem"]["conv"]["kernel"].shape == (3, 3, 3, SCALED[n][0])
    names = [f"block{i}{chr(ord('a') + j)}" for i, (repeats, _) in enumerate(SCALED[n][1], start=1)
             for j in range(repeats)]
    assert [k for k in params if k.startswith("block")] == names
    for name, (c, e, k, _, s, out) in zip(names, blocks(n)):
        block = params[name]
        assert ("expand" in block) == (e != c)
        assert block["depthwise"]["conv"]["kernel"].shape == (k, k, 1, e)
        assert block["se"]["reduce"]["kernel"].shape == (1, 1, e, s)
        assert block["project"]["conv"]["kernel"].shape == (1, 1, e, out)
    assert params["head"]["conv"]["kernel"].shape == (1, 1, SCALED[n][1][-1][1], SCALED[n][2])


def test_registered_variants_are_torchvisions():
    for n in range(8):
        spec = cnn.models.spec(f"efficientnet_b{n}")
        model = spec.factory(num_classes=1000)
        assert spec.input_shape == (RESOLUTION[n], RESOLUTION[n], 3) and spec.num_classes == 1000
        assert model.dropout == DROPOUT[n] and model.stochastic_depth == 0.2 and model.padding_style == "torch"
        # torchvision: nn.BatchNorm2d defaults for b0–b4, BatchNorm2d(eps=0.001, momentum=0.01) for b5–b7.
        assert (model.bn_epsilon, model.bn_momentum) == ((1e-5, 0.9) if n < 5 else (1e-3, 0.99))


def test_stochastic_depth_rises_linearly_over_the_blocks():
    model, variables, x = abstract("efficientnet_b0", 224)
    rates = []

    def record(next_fun, args, kwargs, context):
        if isinstance(context.module, InvertedResidual) and context.method_name == "__call__":
            rates.append(context.module.drop_rate)
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        jax.eval_shape(partial(model.apply, train=False), variables, x)
    # torchvision: stochastic_depth_prob · block_id / total_blocks, block_id from 0 (Keras: the same).
    assert rates == [0.2 * b / 16 for b in range(16)]
    assert rates[-1] == 0.1875


def test_mbconv_drops_the_residual_branch_of_whole_samples_in_training():
    block = partial(InvertedResidual, 8, 48, 3, 1, nn.silu, se_squeeze=2, se_activation=nn.silu, se_gate=nn.sigmoid)
    x = random_input((64, 4, 4, 8))
    variables = random_variables(jax.eval_shape(partial(block().init, train=False), jax.random.key(0), x))

    def run(drop_rate, train):
        apply = partial(block(drop_rate=drop_rate).apply, train=train, mutable=["batch_stats"],
                        rngs={"dropout": jax.random.key(3)})
        return np.asarray(jax.jit(apply, compiler_options=FAST_COMPILE)(variables, x)[0])

    dropping, keeping, evaluated = run(0.5, True), run(0.0, True), run(0.5, False)
    # Per sample the output is exactly x (branch dropped) or x + branch / (1 − 0.5), the branch as without drops.
    dropped = np.all(dropping == x, axis=(1, 2, 3))
    assert 16 < dropped.sum() < 48  # Binomial(64, 1/2): mean 32, sd 4
    np.testing.assert_allclose(dropping[~dropped], (x + 2 * (keeping - x))[~dropped], rtol=1e-5, atol=1e-5)
    assert not np.any(np.all(evaluated == x, axis=(1, 2, 3)))  # at eval no branch is dropped


def _expected_taps(n, size):
    """Stage maps at strides 2, 4, 8, 16, 32: ⌈size/stride⌉ with the symmetric ⌊k/2⌋ padding."""
    widths = [w for _, w in SCALED[n][1]]
    shapes = {"stem": (SCALED[n][0], 2), "stage1": (widths[0], 2), "stage2": (widths[1], 4),
              "stage3": (widths[2], 8), "stage4": (widths[4], 16), "stage5": (widths[6], 32),
              "head": (SCALED[n][2], 32)}
    taps = {name: (-(-size // stride), -(-size // stride), width) for name, (width, stride) in shapes.items()}
    return {**taps, "features": (SCALED[n][2],)}


def test_forward_backward_of_b0():
    model, shapes, x = abstract("efficientnet_b0", 64, batch=2)
    value, taps, stats, grads = real_step(model, random_variables(shapes), random_input(x.shape))
    assert np.isfinite(value)
    assert {name: tap.shape[1:] for name, tap in taps.items()} == _expected_taps(0, 64)
    norms = {layer: norm(g) for layer, g in grads.items()}
    assert all(np.isfinite(v) and v > 0 for v in norms.values()), norms
    assert not np.allclose(stats["stem"]["bn"]["mean"], 0)


@pytest.mark.parametrize("n", [7])
def test_abstract_forward_backward_at_the_native_resolution(n):
    model, variables, x = abstract(f"efficientnet_b{n}", RESOLUTION[n])
    grads, (logits, taps) = abstract_grads(model, variables, x)
    assert jax.tree.map(lambda g: g.shape, grads) == jax.tree.map(lambda p: p.shape, variables["params"])
    assert logits.shape == (1, 1000)
    assert {name: tap.shape[1:] for name, tap in taps.items()} == _expected_taps(n, RESOLUTION[n])
