"""ShuffleNet v1 and V2: the channel shuffle against its index formula, torchvision's parameter counts, hand counts
from the papers' tables, Table 1's complexity, the authors' released 0.5×-2× nets, the units, forward and
backward."""

from functools import partial

import jax
import numpy as np
import pytest
from zoo_testing import FAST_COMPILE, abstract, abstract_grads, count, norm, random_input, random_variables, real_step

import cnn.models
from cnn.analysis.summary import summarize
from cnn.models.shufflenet import ShuffleUnit, ShuffleV2Unit, channel_shuffle

# v1, Table 1: group count g → (stage-2 output width at 1×, complexity in millions of multiply-adds).
V1_TABLE_1 = {1: (144, 143), 2: (200, 140), 3: (240, 137), 4: (272, 133), 8: (384, 137)}
# V2: stage 2, 3, 4 and conv5 widths (the paper's Table 5, torchvision's stages_out_channels) and
# torchvision's parameter counts at 1000 classes.
V2 = {"shufflenet_v2_x0_5": ((48, 96, 192, 1024), 1_366_792),
      "shufflenet_v2_x1_0": ((116, 232, 464, 1024), 2_278_604),
      "shufflenet_v2_x1_5": ((176, 352, 704, 1024), 3_503_624),
      "shufflenet_v2_x2_0": ((244, 488, 976, 2048), 7_393_996)}
REPEATS = (4, 8, 4)


def v1_hand_count(g, classes=1000):
    """(parameters, MACs of the convolutions, MACs of the FC) at 224 from Table 1: stem 3×3/2 conv to 24 (112²)
    and max pool to 56²; unit bottleneck m = C/4, its last 1×1 to C − c at stride 2; stage 2's first 1×1 not
    grouped."""
    c, size = 24, 56
    params, macs = 27 * 24 + 2 * 24, 112 * 112 * 27 * 24
    for stage, n in enumerate(REPEATS):
        width = V1_TABLE_1[g][0] * 2 ** stage
        for i in range(n):
            stride, m = (2 if i == 0 else 1), width // 4
            out = width - c if i == 0 else width
            first = 1 if stage == 0 and i == 0 else g
            params += c * m // first + 2 * m + 9 * m + 2 * m + m * out // g + 2 * out
            macs += size * size * c * m // first + (size // stride) ** 2 * (9 * m + m * out // g)
            c, size = width, size // stride
    return params + (c + 1) * classes, macs, c * classes


def v2_hand_count(widths, classes=1000):
    """Stem 3×3 conv 24 + BN; a stride-2 unit from c to C = 2h: branch1 3×3 dw + BN, 1×1 c→h + BN, branch2
    1×1 c→h + BN, 3×3 dw + BN, 1×1 h→h + BN; a stride-1 unit: branch2 on h channels; conv5 + BN; FC."""
    c, total = 24, 27 * 24 + 2 * 24
    for width, n in zip(widths[:3], REPEATS):
        h = width // 2
        total += (9 * c + 2 * c + c * h + 2 * h) + (c * h + 2 * h + 9 * h + 2 * h + h * h + 2 * h)
        total += (n - 1) * (2 * (h * h + 2 * h) + 9 * h + 2 * h)
        c = width
    return total + c * widths[3] + 2 * widths[3] + (widths[3] + 1) * classes


@pytest.mark.parametrize("channels, groups", [(6, 2), (12, 4), (240, 3), (7, 1), (8, 8)])
def test_channel_shuffle_moves_channel_j_from_its_index_formula(channels, groups):
    x = random_input((2, 3, 3, channels))
    source = [(j % groups) * (channels // groups) + j // groups for j in range(channels)]
    np.testing.assert_array_equal(channel_shuffle(x, groups), x[..., source])


def test_channel_shuffle_refuses_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match="4 groups must divide the 6 channels"):
        channel_shuffle(np.zeros((1, 6)), 4)


@pytest.mark.parametrize("name", sorted(V2))
def test_v2_parameter_count_equals_torchvision_and_the_hand_count(name):
    widths, torchvision = V2[name]
    _, variables, _ = abstract(name, 224)
    assert count(variables) == torchvision == v2_hand_count(widths)


@pytest.mark.parametrize("g", sorted(V1_TABLE_1))
def test_v1_parameters_and_macs_are_the_hand_count_and_the_complexity_table_1_gives(g):
    params, conv_macs, fc_macs = v1_hand_count(g)
    summary = summarize(f"shufflenet_v1_g{g}")
    assert summary.params == params
    assert summary.macs == conv_macs + fc_macs
    # Table 1 rounds to whole millions (±0.36% at 137 M) and, by these numbers, leaves the FC out: the
    # convolutions alone are within 0.36% of every entry, with the FC g4 and g8 would be 1.0% over.
    assert conv_macs / 1e6 == pytest.approx(V1_TABLE_1[g][1], rel=0.004)


# The authors' PyTorch release (megvii-model/ShuffleNet-Series, ShuffleNetV1/README.md): (g, scale) → (stem
# width its network.py uses, MFLOPs, millions of parameters) as its table lists them.
RELEASE = {(3, 0.5): (12, 38, 0.7), (3, 2.0): (48, 524, 5.4), (8, 0.5): (16, 40, 1.0), (8, 1.5): (24, 290, 4.3)}


@pytest.mark.parametrize("g, scale", sorted(RELEASE))
def test_scaled_v1_matches_the_authors_released_nets(g, scale):
    stem, mflops, millions = RELEASE[g, scale]
    summary = summarize(f"shufflenet_v1_g{g}", scale=scale, stem_width=stem)
    # The release's FC has no bias (1000 parameters fewer); its MFLOPs are rounded to whole millions and
    # count the FC.
    assert round((summary.params - 1000) / 1e6, 1) == millions
    assert summary.macs / 1e6 == pytest.approx(mflops, abs=0.5)


def _expected_taps(widths, size=224):
    """The stem at 1/4, stages 2-4 at 1/8, 1/16, 1/32, conv5 (V2) at 1/32, features; `widths` in that order."""
    sides = [size // 4, size // 8, size // 16, size // 32, size // 32]
    names = ["stem", "stage2", "stage3", "stage4", "conv5"][:len(widths)]
    shapes = {name: (side, side, width) for name, side, width in zip(names, sides, widths)}
    return {**shapes, "features": (widths[-1],)}


def _v1_widths(g):
    width = V1_TABLE_1[g][0]
    return (24, width, 2 * width, 4 * width)


ABSTRACT = {**{f"shufflenet_v1_g{g}": _v1_widths(g) for g in (1, 2, 4, 8)},
            **{name: (24, *V2[name][0]) for name in ("shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0")}}


@pytest.mark.parametrize("name", sorted(ABSTRACT))
def test_abstract_forward_backward_and_taps_at_224(name):
    model, variables, x = abstract(name, 224)
    grads, (logits, taps) = abstract_grads(model, variables, x)
    assert jax.tree.map(lambda g: g.shape, grads) == jax.tree.map(lambda p: p.shape, variables["params"])
    assert logits.shape == (1, 1000)
    assert {k: v.shape[1:] for k, v in taps.items()} == _expected_taps(ABSTRACT[name])


@pytest.mark.parametrize("name, widths", [("shufflenet_v1_g3", _v1_widths(3)),
                                          ("shufflenet_v2_x0_5", (24, *V2["shufflenet_v2_x0_5"][0]))])
def test_real_training_step_at_64(name, widths):
    model, shapes, x = abstract(name, 64, batch=2, num_classes=10)
    value, taps, stats, grads = real_step(model, random_variables(shapes), random_input(x.shape))
    assert np.isfinite(value)
    assert {k: v.shape[1:] for k, v in taps.items()} == _expected_taps(widths, 64)
    norms = {layer: norm(g) for layer, g in grads.items()}
    assert all(np.isfinite(n) and n > 0 for n in norms.values()), norms
    assert not np.allclose(stats["conv1"]["bn"]["mean"], 0)


def _apply_with_silent_branch(unit, x, last_bn):
    """The unit with its branch's last BN zeroed (γ = β = 0), so the branch contributes ReLU(0) = 0 or 0."""
    variables = random_variables(jax.eval_shape(partial(unit.init, train=False), jax.random.key(0), x))
    bn = variables["params"][last_bn]["bn"]
    bn["scale"], bn["bias"] = np.zeros_like(bn["scale"]), np.zeros_like(bn["bias"])
    return np.asarray(jax.jit(partial(unit.apply, train=False), compiler_options=FAST_COMPILE)(variables, x))


def test_v1_unit_at_stride_1_is_relu_of_input_plus_branch():
    x = random_input((1, 6, 6, 24))
    y = _apply_with_silent_branch(ShuffleUnit(24, groups=3), x, "pointwise2")
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_v1_unit_at_stride_2_concatenates_the_average_pooled_input_first():
    x = random_input((1, 6, 6, 12))
    y = _apply_with_silent_branch(ShuffleUnit(48, groups=3, stride=2), x, "pointwise2")
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))  # 3×3/2 windows, padding 1 counted as zeros
    pooled = np.stack([np.stack([padded[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3].sum((0, 1)) / 9 for j in range(3)])
                       for i in range(3)])[None]
    assert y.shape == (1, 3, 3, 48)
    np.testing.assert_allclose(y[..., :12], np.maximum(pooled, 0), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(y[..., 12:], 0)


def test_v2_unit_at_stride_1_passes_the_first_half_to_the_even_channels():
    x = random_input((1, 5, 5, 16))
    y = _apply_with_silent_branch(ShuffleV2Unit(16), x, "branch2_pointwise2")
    np.testing.assert_array_equal(y[..., 0::2], x[..., :8])  # shuffle(2) interleaves the two halves
    np.testing.assert_array_equal(y[..., 1::2], 0)


def test_v2_unit_at_stride_2_has_both_branches_halving_the_size():
    x = random_input((1, 6, 6, 8))
    unit = ShuffleV2Unit(16, stride=2)
    shapes = jax.eval_shape(partial(unit.init, train=False), jax.random.key(0), x)["params"]
    assert {k: v["conv"]["kernel"].shape for k, v in shapes.items()} == {
        "branch1_depthwise": (3, 3, 1, 8), "branch1_pointwise": (1, 1, 8, 8), "branch2_pointwise1": (1, 1, 8, 8),
        "branch2_depthwise": (3, 3, 1, 8), "branch2_pointwise2": (1, 1, 8, 8)}
    assert _apply_with_silent_branch(unit, x, "branch2_pointwise2").shape == (1, 3, 3, 16)


def test_v1_refuses_a_group_count_outside_table_1():
    with pytest.raises(ValueError, match=r"groups \[1, 2, 3, 4, 8\] \(Table 1\), got 5"):
        abstract("shufflenet_v1_g1", 64, groups=5)


def test_registered_names():
    expected = {f"shufflenet_v1_g{g}" for g in V1_TABLE_1} | set(V2)
    assert {n for n in cnn.models.names() if n.startswith("shufflenet")} == expected
    assert cnn.models.spec("shufflenet_v2_x1_0").input_shape == (224, 224, 3)
