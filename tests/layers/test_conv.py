"""Convolution, transposed convolution and locally connected layers against scipy, numpy loops and the notes."""

from __future__ import annotations

import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal
from jax.test_util import check_grads

from cnn.layers.conv import (
    Conv,
    ConvTranspose,
    LocallyConnected2D,
    conv_transpose,
    convolve,
    correlate,
    locally_connected,
)
from cnn.layers.padding import MODES, BorderWarning, resolve_padding

RNG = np.random.default_rng(0)
SIZES = {1: (13,), 2: (11, 9), 3: (7, 8, 8)}
# (kernel per axis, stride, dilation, padding): odd and even kernels, strides 1–3, dilations 1–3.
CASES = [
    (3, 1, 1, "SAME"),
    (2, 2, 1, (1, 2)),
    (3, 3, 2, 2),
    (2, 1, 3, "SAME"),
    (3, 2, 3, "VALID"),
    (4, 1, 1, 1),
]


def _numpy_pad(x, pads, mode, value):
    widths = [(0, 0), *pads, (0, 0)]
    if mode in ("zero", "constant"):
        return np.pad(x, widths, mode="constant", constant_values=value if mode == "constant" else 0.0)
    return np.pad(x, widths, mode=mode)


def _dilate(w, dilation):
    rank = w.ndim - 2
    shape = [d * (k - 1) + 1 for k, d in zip(w.shape[:rank], dilation)] + list(w.shape[rank:])
    out = np.zeros(shape, w.dtype)
    out[tuple(slice(None, None, d) for d in dilation)] = w
    return out


def reference_correlate(x, w, stride, pads, mode, value, dilation, groups=1, flip=False):
    """scipy.signal.correlate (or convolve) per channel pair on the numpy-padded input, subsampled by the stride."""
    xp = _numpy_pad(x, pads, mode, value)
    wd = _dilate(w, dilation)
    op = scipy.signal.convolve if flip else scipy.signal.correlate
    c_in, c_out = w.shape[-2], w.shape[-1]
    per_group = c_out // groups
    outs = []
    for n in range(x.shape[0]):
        channels = []
        for o in range(c_out):
            g = o // per_group
            acc = sum(op(xp[n, ..., g * c_in + c], wd[..., c, o], mode="valid") for c in range(c_in))
            channels.append(acc[tuple(slice(None, None, s) for s in stride)])
        outs.append(np.stack(channels, -1))
    return np.stack(outs)


def test_the_notes_worked_example():
    image = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], np.float32)
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.float32)
    out = correlate(image[None, ..., None], kernel[..., None, None])
    np.testing.assert_array_equal(out[0, ..., 0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("flip", [False, True], ids=["correlate", "convolve"])
def test_matches_scipy_for_every_padding_mode_stride_and_dilation(rank, mode, flip):
    x = RNG.normal(size=(2, *SIZES[rank], 3)).astype(np.float32)
    op = convolve if flip else correlate
    for k, s, d, padding in CASES:
        padding = [padding] * rank if isinstance(padding, tuple) else padding
        w = RNG.normal(size=(*(k,) * rank, 3, 2)).astype(np.float32)
        pads = resolve_padding(padding, x.shape[1:-1], (k,) * rank, (s,) * rank, (d,) * rank)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BorderWarning)
            got = op(x, w, stride=s, padding=padding, mode=mode, value=0.5, dilation=d)
        expected = reference_correlate(x, w, (s,) * rank, pads, mode, 0.5, (d,) * rank, flip=flip)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=f"k={k} s={s} d={d} p={padding}")


@pytest.mark.parametrize("groups", [2, 6])
def test_feature_groups_and_depthwise_match_per_group_scipy(groups):
    x = RNG.normal(size=(2, 8, 7, 6)).astype(np.float32)
    w = RNG.normal(size=(3, 3, 6 // groups, 12)).astype(np.float32)
    got = correlate(x, w, padding=1, groups=groups, stride=(1, 2))
    expected = reference_correlate(x, w, (1, 2), [(1, 1), (1, 1)], "zero", 0.0, (1, 1), groups=groups)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def reference_transpose(x, w, stride, pads, dilation, groups, out_sizes):
    """Scatter-add: every input pixel spreads its kernel-weighted value over a window of the output."""
    rank = x.ndim - 2
    ks = w.shape[:rank]
    per_group, c_in = w.shape[-2], x.shape[-1] // groups
    full_shape = [(n - 1) * s + d * (k - 1) + 1 for n, s, k, d in zip(x.shape[1:-1], stride, ks, dilation)]
    full = np.zeros((x.shape[0], *[max(f, lo + o) for f, (lo, _), o in zip(full_shape, pads, out_sizes)], groups * per_group))
    for i in np.ndindex(*x.shape[1:-1]):
        for a in np.ndindex(*ks):
            at = tuple(s * ii + d * aa for s, ii, d, aa in zip(stride, i, dilation, a))
            for g in range(groups):
                xs = x[(slice(None), *i, slice(g * c_in, (g + 1) * c_in))]
                full[(slice(None), *at, slice(g * per_group, (g + 1) * per_group))] += xs @ w[a][:, g * c_in : (g + 1) * c_in].T
    return full[(slice(None), *[slice(lo, lo + o) for (lo, _), o in zip(pads, out_sizes)])]


@pytest.mark.filterwarnings("ignore::cnn.layers.padding.BorderWarning")
@pytest.mark.parametrize(
    "rank, k, s, p, d, groups, extra",
    [
        (1, 3, 2, 1, 1, 1, 1),
        (2, 3, 2, 1, 1, 1, 1),
        (2, 4, 2, (1, 2), 1, 2, 0),
        (2, 3, 3, 0, 2, 1, 2),
        (2, 2, 1, 0, 3, 4, 0),
        (3, 3, 2, 1, 1, 1, 0),
    ],
)
def test_transposed_convolution_is_the_scatter_add_and_the_gradient_of_correlate(rank, k, s, p, d, groups, extra):
    n = {1: (5,), 2: (4, 5), 3: (3, 4, 3)}[rank]
    y = RNG.normal(size=(2, *n, 4)).astype(np.float32)
    w = RNG.normal(size=(*(k,) * rank, 8 // groups, 4)).astype(np.float32)
    got = conv_transpose(y, w, stride=s, padding=p, dilation=d, groups=groups, output_padding=extra)
    pads = resolve_padding(p, n, (k,) * rank, (s,) * rank, (d,) * rank)
    sizes = [(m - 1) * s - lo - hi + d * (k - 1) + 1 + extra for m, (lo, hi) in zip(n, pads)]
    assert got.shape == (2, *sizes, 8)
    np.testing.assert_allclose(got, reference_transpose(y, w, (s,) * rank, pads, (d,) * rank, groups, sizes), rtol=1e-5, atol=1e-5)

    x = np.zeros((2, *sizes, 8), np.float32)
    _, pullback = jax.vjp(lambda v: correlate(v, w, stride=s, padding=p, dilation=d, groups=groups), x)
    np.testing.assert_allclose(got, pullback(y)[0], rtol=1e-5, atol=1e-5)


def test_transposed_same_padding_multiplies_the_size_by_the_stride():
    y = RNG.normal(size=(1, 5, 3, 2)).astype(np.float32)
    for k, s in [(3, 2), (4, 2), (1, 3), (5, 3)]:
        w = RNG.normal(size=(k, k, 3, 2)).astype(np.float32)
        assert conv_transpose(y, w, stride=s, padding="SAME").shape == (1, 5 * s, 3 * s, 3)


def test_stride_two_transpose_inserts_zeros_between_pixels():
    """The notes: transposing a stride-2 convolution spreads the input with one zero between pixels."""
    y = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    delta = np.ones((1, 1, 1, 1), np.float32)
    out = conv_transpose(y, delta, stride=2)
    expected = np.zeros((5, 5), np.float32)
    expected[::2, ::2] = y[0, ..., 0]
    np.testing.assert_array_equal(out[0, ..., 0], expected)


def test_locally_connected_with_tied_weights_equals_a_convolution():
    x = RNG.normal(size=(2, 9, 8, 3)).astype(np.float32)
    w = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)
    for s, p, mode, d in [(1, "VALID", "zero", 1), (2, 1, "reflect", 1), (1, "SAME", "edge", 2)]:
        conv = correlate(x, w, stride=s, padding=p, mode=mode, dilation=d)
        tied = np.broadcast_to(w, (*conv.shape[1:3], *w.shape))
        got = locally_connected(x, tied, stride=s, padding=p, mode=mode, dilation=d)
        np.testing.assert_allclose(got, conv, rtol=1e-5, atol=1e-5)


def test_locally_connected_uses_each_positions_own_weights():
    x = RNG.normal(size=(2, 6, 6, 2)).astype(np.float32)
    w = RNG.normal(size=(4, 3, 3, 2, 2, 3)).astype(np.float32)
    got = locally_connected(x, w, stride=(1, 2))
    expected = np.zeros((2, 4, 3, 3))
    for i in range(4):
        for j in range(3):
            patch = x[:, i : i + 3, 2 * j : 2 * j + 2, :]
            expected[:, i, j] = np.einsum("nabc,abco->no", patch, w[i, j])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def _param_count(module, shape):
    variables = jax.eval_shape(module.init, jax.random.key(0), jnp.zeros(shape))
    return sum(p.size for p in jax.tree.leaves(variables["params"]))


def test_the_notes_parameter_arithmetic():
    assert _param_count(Conv(5, (7, 7), use_bias=False), (1, 32, 32, 3)) == 735  # 5 filters 7×7×3
    assert _param_count(Conv(6, (5, 5)), (1, 32, 32, 3)) == 450 + 6  # 6 filters 5×5×3, plus biases
    assert _param_count(Conv(32, (1, 1)), (1, 56, 56, 64)) == 64 * 32 + 32  # 1×1×64 → 32
    assert _param_count(Conv(16, (3, 3), groups=16), (1, 8, 8, 16)) == 16 * 9 + 16  # depthwise
    out = Conv(6, (5, 5)).apply(Conv(6, (5, 5)).init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))), jnp.zeros((1, 32, 32, 3)))
    assert out.shape == (1, 28, 28, 6)


def test_locally_connected_parameter_count_is_positions_times_kernel_times_channels():
    layer = LocallyConnected2D(4, (3, 3))
    params = layer.init(jax.random.key(0), jnp.zeros((1, 7, 6, 2)))["params"]
    assert params["kernel"].shape == (5, 4, 3, 3, 2, 4)
    assert params["kernel"].size == (5 * 4) * (3 * 3) * 2 * 4
    assert params["bias"].shape == (5, 4, 4)


@pytest.mark.parametrize(
    "module, shape",
    [
        (Conv(3, (3,), stride=2, padding="SAME", padding_mode="reflect"), (2, 9, 2)),
        (Conv(4, (3, 2), dilation=(2, 1), groups=2, padding=1, padding_mode="symmetric"), (2, 7, 6, 2)),
        (Conv(2, (2, 2, 2), padding="SAME", padding_mode="edge"), (1, 4, 5, 3, 2)),
        (ConvTranspose(4, (3, 3), stride=2, padding=1, output_padding=1), (2, 4, 3, 2)),
        (LocallyConnected2D(3, (2, 2), padding=1, padding_mode="wrap"), (2, 4, 4, 2)),
    ],
)
def test_gradients_of_every_layer_match_finite_differences(module, shape):
    x = jnp.asarray(RNG.normal(size=shape), jnp.float32)
    variables = module.init(jax.random.key(1), x)
    variables = jax.tree.map(lambda p: p + 0.1 * jnp.asarray(RNG.normal(size=p.shape), p.dtype), variables)
    with jax.enable_x64(True):
        x64 = x.astype(jnp.float64)
        v64 = jax.tree.map(lambda p: p.astype(jnp.float64), variables)
        check_grads(lambda v, a: module.apply(v, a), (v64, x64), order=1, modes=["rev"])


def test_module_outputs_equal_the_pure_functions():
    x = jnp.asarray(RNG.normal(size=(2, 6, 6, 4)), jnp.float32)
    module = Conv(6, (3, 3), stride=2, padding="SAME", padding_mode="reflect", groups=2)
    variables = module.init(jax.random.key(0), x)
    expected = correlate(x, variables["params"]["kernel"], stride=2, padding="SAME", mode="reflect", groups=2)
    np.testing.assert_allclose(module.apply(variables, x), expected + variables["params"]["bias"], rtol=1e-6)
    assert nn.tabulate(module, jax.random.key(0))(x)  # renders: shapes are static


def test_mismatched_shapes_name_the_problem():
    x = jnp.zeros((1, 8, 8, 3))
    with pytest.raises(ValueError, match=r"needs input channels 4·1 = 4 \(got 3\)"):
        correlate(x, jnp.zeros((3, 3, 4, 2)))
    with pytest.raises(ValueError, match=r"2D kernel \(3, 3, 3, 2\) needs input \(N, 2 spatial axes, C\), got shape \(8, 8, 3\)"):
        correlate(x[0], jnp.zeros((3, 3, 3, 2)))
    with pytest.raises(ValueError, match="groups 2 must divide the 3 input channels"):
        Conv(4, (3, 3), groups=2).init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"kernel 9 \(dilation 1: spans 9\) is larger than the padded input 8 \+ 0 \+ 0 = 8"):
        Conv(4, (9, 9)).init(jax.random.key(0), x)
    with pytest.raises(TypeError, match=r"kernel_size must have one entry per spatial axis, e.g. \(3,\)"):
        ConvTranspose(4, 3).init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"expected \(6, 6, 3, 3, 3, C_out\)"):
        locally_connected(x, jnp.zeros((5, 5, 3, 3, 3, 2)))


def test_a_conv_that_does_not_click_warns():
    with pytest.warns(BorderWarning, match=r"\(6 \+ 0 \+ 0 − 3\)/2 \+ 1 = 2.5"):
        Conv(1, (3, 3), stride=2).init(jax.random.key(0), jnp.zeros((1, 6, 6, 1)))
