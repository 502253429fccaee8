"""NASNet-A Mobile and Large: a hand count from the paper's cells equals ours and Keras's trainable parameters,
the paper's sizes and multiply-adds, the grids of an unpadded stem and "SAME" stride-2 reductions, the reduction
cell's pools against scipy, forward and backward."""

import jax
import numpy as np
import pytest
import scipy.ndimage
from zoo_testing import (
    FAST_COMPILE,
    abstract,
    abstract_grads,
    count,
    norm,
    random_input,
    random_variables,
    real_step,
)

import cnn.models
from cnn.analysis import summarize
from cnn.models.nasnet import AuxHead, ReductionCell

# (N normal cells per stack, penultimate filters P, stem filters, skip_reduction, native size).
CONFIGS = {"nasnet_a_mobile": (4, 1056, 32, False, 224), "nasnet_a_large": (6, 4032, 96, True, 331)}
# Keras's NASNetMobile / NASNetLarge trainable parameters (count_params over trainable_weights, 1000 classes;
# also asserted against a live Keras model in tests/transfer/test_keras_nasnet.py).
KERAS = {"nasnet_a_mobile": 5_289_978, "nasnet_a_large": 88_753_150}
# The paper's parameters (millions) and multiply-adds (Table 2 for Large, Table 3 for Mobile).
PAPER_MILLIONS = {"nasnet_a_mobile": 5.3, "nasnet_a_large": 88.9}
PAPER_MULT_ADDS = {"nasnet_a_mobile": 564e6, "nasnet_a_large": 23.8e9}


def _sep(c, f, k):
    """Half a "sep k×k": depthwise k²c, pointwise cf, BN 2f."""
    return k * k * c + c * f + 2 * f


def _branch(c, f, k):
    return _sep(c, f, k) + _sep(f, f, k)


def hand_count(n, penultimate, stem, skip_reduction, classes=1000):
    """The paper's network from its cells: tensors are (channels, grid level), a cell's 1×1 on x costs c·f + 2f
    and p, when it differs from (f, x's level), one 1×1 projection or two 1×1 to f/2 (c_p·f) and a BN (2f)."""
    f = penultimate // 24

    def inputs(x, p, width):
        adjust = 0 if p is None or p == (width, x[1]) else p[0] * width + 2 * width
        return x[0] * width + 2 * width + adjust

    def normal(x, p, width):
        total = inputs(x, p, width) + sum(_branch(width, width, k) for k in (5, 3, 5, 3, 3))
        return total, (6 * width, x[1])

    def reduction(x, p, width):
        c_p = x[0] if p is None else width  # the first stem cell's p is its input, unadjusted
        total = inputs(x, p, width) + _branch(width, width, 5) + 2 * _branch(c_p, width, 7)
        total += _branch(c_p, width, 5) + _branch(width, width, 3)
        return total, (4 * width, x[1] + 1)

    total, x, p = 27 * stem + 2 * stem, (stem, 1), None
    for width in (f // 4, f // 2):
        cost, out = reduction(x, p, width)
        total, x, p = total + cost, out, x
    for stack in range(3):
        if stack:
            cost, out = reduction(x, p, f * 2 ** stack)
            total, x, p = total + cost, out, (p if skip_reduction else x)
        for _ in range(n):
            cost, out = normal(x, p, f * 2 ** stack)
            total, x, p = total + cost, out, x
    return total + (x[0] + 1) * classes


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_parameter_count_is_the_hand_count_keras_and_the_papers(name):
    n, penultimate, stem, skip, size = CONFIGS[name]
    _, variables, _ = abstract(name, size)
    assert count(variables) == hand_count(n, penultimate, stem, skip) == KERAS[name]
    # The paper's sizes match the counts with BN's running means and variances (Keras's count_params: 5,326,716 and
    # 88,949,818); the trainable ones alone are 88.75M for Large.
    stats = sum(leaf.size for leaf in jax.tree.leaves(variables["batch_stats"]))
    assert round((count(variables) + stats) / 1e6, 1) == PAPER_MILLIONS[name]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_multiply_adds_are_the_papers(name):
    # 563,638,816 and 23,783,414,658 at 224 and 331.
    assert summarize(name).macs == pytest.approx(PAPER_MULT_ADDS[name], rel=2e-3)


def _grid(size, reductions):
    """The side after the unpadded 3×3/2 stem ((n − 3)//2 + 1, TF-slim's 299 → 149) and stride-2 "SAME" cells."""
    side = (size - 3) // 2 + 1
    for _ in range(reductions):
        side = -(-side // 2)
    return side


def expected_taps(name, size, n=None):
    n, (_, penultimate, stem, _, _) = n or CONFIGS[name][0], CONFIGS[name]
    f = penultimate // 24
    taps = {"stem": (_grid(size, 0),) * 2 + (stem,), "stem_cell0": (_grid(size, 1),) * 2 + (4 * (f // 4),),
            "stem_cell1": (_grid(size, 2),) * 2 + (4 * (f // 2),), "features": (6 * 4 * f,)}
    for stack in range(3):
        if stack:
            taps[f"reduction_cell{stack - 1}"] = (_grid(size, 2 + stack),) * 2 + (4 * f * 2 ** stack,)
        for i in range(stack * n, (stack + 1) * n):
            taps[f"cell{i}"] = (_grid(size, 2 + stack),) * 2 + (6 * f * 2 ** stack,)
    return taps


def test_grids_are_tf_slims_and_keras():
    # TF-slim's stem comment: 149 × 149 at 299; Keras's NASNetMobile / NASNetLarge end in 7 × 7 / 11 × 11.
    assert _grid(299, 0) == 149
    assert [_grid(224, r) for r in range(5)] == [111, 56, 28, 14, 7]
    assert [_grid(331, r) for r in range(5)] == [165, 83, 42, 21, 11]


def _shapes(taps):
    return {k: v.shape[1:] for k, v in taps.items() if k != "aux_logits"}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_forward_backward_at_the_native_size_as_shapes(name):
    size = CONFIGS[name][-1]
    model, variables, x = abstract(name, size)
    grads, (logits, taps) = abstract_grads(model, variables, x)
    assert jax.tree.map(lambda g: g.shape, grads) == jax.tree.map(lambda p: p.shape, variables["params"])
    assert logits.shape == (1, 1000) and "aux_logits" not in taps
    assert _shapes(taps) == expected_taps(name, size)


def test_auxiliary_head_on_mobiles_cell7_is_tf_slims():
    # Cell 7 of Mobile at 224 is 14×14×528: 5×5/3 pool → 4×4, 1×1 conv 128 + BN, 4×4 conv 768 + BN, FC.
    x = jax.ShapeDtypeStruct((1, 14, 14, 528), np.float32)
    head = AuxHead(1000)
    variables = jax.eval_shape(lambda v: head.init(jax.random.key(0), v, False), x)
    assert variables["params"]["conv"]["conv"]["kernel"].shape == (4, 4, 128, 768)
    assert count(variables) == 528 * 128 + 2 * 128 + 4 * 4 * 128 * 768 + 2 * 768 + 769 * 1000
    assert jax.eval_shape(lambda v: head.apply(v, x, False), variables).shape == (1, 1000)


def test_mobiles_cells_train_with_the_auxiliary_head():
    # Mobile's cells with N = 1 (compiling all twelve normal cells for real would take most of the time budget)
    # at 96: 47 → 24 → 12 → 6 → 3, so the auxiliary head sees a 6×6 grid.
    model, shapes, x = abstract("nasnet_a_mobile", 96, batch=2, num_classes=10, num_cells=1, aux_logits=True)
    value, taps, stats, grads = real_step(model, random_variables(shapes), random_input(x.shape))
    assert np.isfinite(value) and taps["aux_logits"][0].shape == (2, 10)
    assert _shapes(taps) == expected_taps("nasnet_a_mobile", 96, n=1)
    norms = {layer: norm(g) for layer, g in grads.items()}
    assert set(norms) > {"aux", "cell2", "reduction_cell1"}
    assert all(np.isfinite(v) and v > 0 for v in norms.values()), norms
    assert not np.allclose(stats["cell2"]["base"]["bn"]["mean"], 0)


def _same_pools(h, zero_padded):
    """scipy reference of the reduction cell's 3×3/2 "SAME" pools of h (N, n, n, C): TF pads (0, 1) on even n and
    (1, 1) on odd n, so output i is centred on input 2i + 1 (even) or 2i (odd). Keras pads zeros, which enter the
    max and count in the average; TF-slim's max ignores the padding and its average divides by the real pixels."""
    fill = 0.0 if zero_padded else -np.inf
    size = (1, 3, 3, 1)
    maxed = scipy.ndimage.maximum_filter(h, size=size, mode="constant", cval=fill)
    sums = scipy.ndimage.uniform_filter(h.astype(np.float64), size=size, mode="constant") * 9
    counts = 9 if zero_padded else scipy.ndimage.uniform_filter(np.ones_like(h, np.float64), size=size,
                                                                mode="constant") * 9
    start = 1 - h.shape[1] % 2
    return maxed[:, start::2, start::2], (sums / counts)[:, start::2, start::2]


@pytest.mark.parametrize("side", [7, 8])
@pytest.mark.parametrize("zero_padded", [True, False])
def test_reduction_cell_pools_are_keras_or_tf_slims(side, zero_padded):
    cell = ReductionCell(4, zero_padded_pools=zero_padded)
    x = random_input((1, side, side, 6))
    variables = random_variables(jax.eval_shape(lambda v: cell.init(jax.random.key(0), v, None, False), x))
    # Zero γ and β of the separable units' last BNs: x2 = max(h) + 0, x3 = avg(h) + 0.
    for name in ("right2_2", "right3_2"):
        variables["params"][name]["bn"] = {"scale": np.zeros(4, np.float32), "bias": np.zeros(4, np.float32)}
    run = jax.jit(lambda v, inputs: cell.apply(v, inputs, None, False, capture_intermediates=True,
                                               mutable=["intermediates"]), compiler_options=FAST_COMPILE)
    out, state = run(variables, x)
    h = np.asarray(state["intermediates"]["base"]["__call__"][0])
    assert h.min() < 0  # h is a BN output: zeros padded into a max over negative values change it
    maxed, averaged = _same_pools(h, zero_padded)
    np.testing.assert_allclose(out[..., :4], maxed, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out[..., 4:8], averaged, rtol=1e-5, atol=1e-6)


def test_penultimate_filters_must_divide_into_the_cells():
    with pytest.raises(ValueError, match=r"multiple of 24 · filter_multiplier² = 96 .*, got 1000"):
        abstract("nasnet_a_mobile", 32, penultimate_filters=1000)


def test_auxiliary_head_refuses_a_grid_below_5():
    x = jax.ShapeDtypeStruct((1, 4, 4, 8), np.float32)
    with pytest.raises(ValueError, match="at least 5×5, got 4×4; pass aux_logits=False"):
        jax.eval_shape(lambda v: AuxHead(10).init(jax.random.key(0), v, False), x)


def test_registered_names():
    assert {"nasnet_a_mobile", "nasnet_a_large"} <= set(cnn.models.names())
    assert cnn.models.spec("nasnet_a_mobile").input_shape == (224, 224, 3)
    assert cnn.models.spec("nasnet_a_large").input_shape == (331, 331, 3)
