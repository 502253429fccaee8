"""Pooling against numpy window loops, flax.linen.pooling, hand computations and the notes' examples."""

from __future__ import annotations

import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.linen import pooling as flax_pooling
from jax.test_util import check_grads

from cnn.layers.padding import BorderWarning
from cnn.layers.pooling import (
    adaptive_avg_pool,
    avg_pool,
    global_avg_pool,
    global_lp_pool,
    global_max_pool,
    lp_pool,
    max_pool,
    min_pool,
)

RNG = np.random.default_rng(0)
SIZES = {1: (11,), 2: (9, 8), 3: (6, 7, 5)}
ASYMMETRIC = [(0, 1), (1, 0), (1, 1)]
# (window, stride, padding): odd and even windows, strides 1–3, every padding spelling.
CASES = [
    (3, 1, "SAME"),
    (2, 2, "VALID"),
    (3, 2, 1),
    (2, 3, "asymmetric"),
    (4, 3, "SAME"),
]


def _explicit_pads(padding, sizes, k, s):
    """The (lo, hi) pairs worked out by hand: SAME gives ceil(n/s) outputs, the odd pixel at the end."""
    if padding == "VALID":
        return [(0, 0)] * len(sizes)
    if padding == "SAME":
        totals = [max((-(-n // s) - 1) * s + k - n, 0) for n in sizes]
        return [(t // 2, t - t // 2) for t in totals]
    if isinstance(padding, int):
        return [(padding, padding)] * len(sizes)
    return list(padding)


def reference_pool(x, kind, k, s, pads, p=None, count_include_pad=True):
    """Every window visited in a loop, in float64; padding is marked so each kind can treat it."""
    rank = x.ndim - 2
    x = x.astype(np.float64)
    widths = [(0, 0), *pads, (0, 0)]
    padded = np.pad(x, widths)
    real = np.pad(np.ones((1, *x.shape[1:-1], 1), bool), widths)
    out = [(n + lo + hi - k) // s + 1 for n, (lo, hi) in zip(x.shape[1:-1], pads)]
    y = np.empty((x.shape[0], *out, x.shape[-1]))
    axes = tuple(range(1, rank + 1))
    for i in np.ndindex(*out):
        window = (slice(None), *(slice(j * s, j * s + k) for j in i), slice(None))
        values, mask = padded[window], real[window]
        count = k**rank if count_include_pad else mask.sum()
        if kind == "max":
            value = np.where(mask, values, -np.inf).max(axes)
        elif kind == "min":
            value = np.where(mask, values, np.inf).min(axes)
        elif kind == "avg":
            value = values.sum(axes) / count
        else:
            value = ((np.abs(values) ** p).sum(axes) / count) ** (1 / p)
        y[(slice(None), *i, slice(None))] = value
    return y


POOLS = {
    "max": lambda x, k, s, pad: max_pool(x, k, s, pad),
    "min": lambda x, k, s, pad: min_pool(x, k, s, pad),
    "avg": lambda x, k, s, pad: avg_pool(x, k, s, pad),
    "avg_real": lambda x, k, s, pad: avg_pool(x, k, s, pad, count_include_pad=False),
    "lp": lambda x, k, s, pad: lp_pool(x, 2.5, k, s, pad),
    "lp_real": lambda x, k, s, pad: lp_pool(x, 0.7, k, s, pad, count_include_pad=False),
}
REFERENCES = {
    "max": dict(kind="max"),
    "min": dict(kind="min"),
    "avg": dict(kind="avg"),
    "avg_real": dict(kind="avg", count_include_pad=False),
    "lp": dict(kind="lp", p=2.5),
    "lp_real": dict(kind="lp", p=0.7, count_include_pad=False),
}


@pytest.mark.filterwarnings("ignore::cnn.layers.padding.BorderWarning")
@pytest.mark.parametrize("name", POOLS)
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_pools_match_a_numpy_window_loop(name, rank):
    x = RNG.normal(size=(2, *SIZES[rank], 3)).astype(np.float32)
    cases = [(k, s, ASYMMETRIC[:rank] if padding == "asymmetric" else padding) for k, s, padding in CASES]
    # One compilation for all cases: that, not the pooling, is what costs time here.
    outputs = jax.jit(lambda a: [POOLS[name](a, k, s, padding) for k, s, padding in cases])(x)
    for got, (k, s, padding) in zip(outputs, cases):
        expected = reference_pool(x, k=k, s=s, pads=_explicit_pads(padding, SIZES[rank], k, s), **REFERENCES[name])
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=f"{name} k={k} s={s} padding={padding}")


def test_per_axis_windows_and_strides_match_the_loop():
    x = RNG.normal(size=(2, 7, 9, 2)).astype(np.float32)
    got = max_pool(jnp.asarray(x), (2, 3), (1, 3), [(1, 0), (0, 2)])
    # (7 + 1 − 2)/1 + 1 = 7 rows; (9 + 2 − 3)/3 + 1 = 3.67 columns: only the 2 padding columns go unread.
    expected = np.empty((2, 7, 3, 2))
    padded = np.pad(x, [(0, 0), (1, 0), (0, 2), (0, 0)], constant_values=-np.inf)
    for i, j in np.ndindex(7, 3):
        expected[:, i, j] = padded[:, i : i + 2, 3 * j : 3 * j + 3].max((1, 2))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.filterwarnings("ignore::cnn.layers.padding.BorderWarning")
@pytest.mark.parametrize(
    "window, stride, padding",
    [
        ((3, 3), (2, 2), "VALID"),
        ((2, 3), (1, 2), "SAME"),
        ((3, 3), (2, 2), [(1, 0), (0, 1)]),
        ((2, 3), (1, 2), ((1, 1), (1, 1))),
    ],
)
def test_pools_match_flax(window, stride, padding):
    x = jnp.asarray(RNG.normal(size=(2, 7, 6, 3)), jnp.float32)
    for ours, theirs in ((max_pool, flax_pooling.max_pool), (min_pool, flax_pooling.min_pool)):
        np.testing.assert_array_equal(ours(x, window, stride, padding), theirs(x, window, stride, padding))
    for include in (True, False):
        np.testing.assert_allclose(
            avg_pool(x, window, stride, padding, count_include_pad=include),
            flax_pooling.avg_pool(x, window, stride, padding, count_include_pad=include),
            rtol=1e-6,
            atol=1e-7,
        )


def test_the_notes_max_pooling_example():
    x = jnp.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], jnp.float32)[None, :, :, None]
    np.testing.assert_array_equal(max_pool(x, 2, 2)[0, :, :, 0], [[6, 8], [3, 4]])
    np.testing.assert_array_equal(max_pool(x, 2)[0, :, :, 0], [[6, 8], [3, 4]])  # stride defaults to the window


@pytest.mark.parametrize("n, expected", [(55, 27), (27, 13), (13, 6)])
def test_alexnet_overlapping_pooling(n, expected):
    x = RNG.normal(size=(1, n, n, 4)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (n − 3)/2 + 1 divides: no pixel is left out
        y = max_pool(jnp.asarray(x), 3, 2)
    assert y.shape == (1, expected, expected, 4)
    loop = np.empty((1, expected, expected, 4), np.float32)
    for i, j in np.ndindex(expected, expected):
        loop[:, i, j] = x[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max((1, 2))
    np.testing.assert_array_equal(y, loop)


def test_integer_images_pool_without_overflow():
    x = RNG.integers(0, 256, size=(1, 7, 7, 1)).astype(np.uint8)
    y = max_pool(jnp.asarray(x), 3, 3, padding=1)
    assert y.dtype == jnp.uint8
    np.testing.assert_array_equal(y, reference_pool(x, "max", 3, 3, [(1, 1)] * 2))
    full = jnp.full((1, 4, 4, 1), 255, jnp.uint8)
    np.testing.assert_array_equal(avg_pool(full, 2), np.full((1, 2, 2, 1), 255.0))


def test_lp_at_p_1_is_the_average_of_non_negative_inputs():
    x = jnp.asarray(RNG.uniform(0, 3, size=(2, 8, 7, 3)), jnp.float32)
    for include in (True, False):
        np.testing.assert_allclose(
            lp_pool(x, 1, 3, 2, "SAME", count_include_pad=include),
            avg_pool(x, 3, 2, "SAME", count_include_pad=include),
            rtol=1e-6,
        )


def test_lp_at_p_2_is_the_root_mean_square():
    x = RNG.normal(size=(2, 6, 8, 3)).astype(np.float32)
    blocks = x.astype(np.float64).reshape(2, 3, 2, 4, 2, 3)
    np.testing.assert_allclose(lp_pool(jnp.asarray(x), 2, 2), np.sqrt((blocks**2).mean((2, 4))), rtol=1e-6)


@pytest.mark.parametrize("p", [64, 256, 1000])
def test_lp_for_large_p_approaches_the_max(p):
    """Hölder: max · N^(−1/p) <= ((1/N) Σ x^p)^(1/p) <= max, so the gap closes as p grows."""
    x = RNG.uniform(0.1, 2, size=(2, 8, 8, 3)).astype(np.float32)
    y = np.asarray(lp_pool(jnp.asarray(x), p, 2))
    top = x.reshape(2, 4, 2, 4, 2, 3).max((2, 4))
    assert np.all(y <= top * (1 + 1e-6))
    assert np.all(y >= top * 4 ** (-1 / p) * (1 - 1e-6))
    if p >= 256:
        np.testing.assert_allclose(y, top, rtol=0.01)


def test_lp_grows_with_p_and_reaches_the_max_of_abs_at_infinity():
    x = RNG.normal(size=(2, 7, 7, 2)).astype(np.float32)
    means = [np.asarray(lp_pool(jnp.asarray(x), p, 3, 2)) for p in (0.5, 1, 2, 4, 16)]
    for lower, higher in zip(means, means[1:]):
        assert np.all(lower <= higher * (1 + 1e-6))
    expected = reference_pool(np.abs(x), "max", 3, 2, [(0, 0)] * 2)
    np.testing.assert_array_equal(lp_pool(jnp.asarray(x), float("inf"), 3, 2), expected)


@pytest.mark.parametrize("scale", [50.0, 1e-2])
def test_lp_at_p_100_neither_overflows_nor_underflows(scale):
    """50^100 ≈ 8e169 overflows float32, (2e-3)^100 ≈ 1e-270 underflows it; float64 holds both for the reference."""
    x = (RNG.uniform(0.2, 1, size=(1, 6, 6, 2)) * scale * RNG.choice([-1, 1], size=(1, 6, 6, 2))).astype(np.float32)
    pool = jax.jit(lambda a: lp_pool(a, 100, 3, 1, "SAME"))
    y = pool(jnp.asarray(x))
    np.testing.assert_allclose(y, reference_pool(x, "lp", 3, 1, [(1, 1)] * 2, p=100), rtol=1e-5)
    assert np.all(np.isfinite(jax.grad(lambda a: pool(a).sum())(jnp.asarray(x))))
    rms = (np.abs(x.astype(np.float64)) ** 100).mean((1, 2)) ** (1 / 100)
    np.testing.assert_allclose(global_lp_pool(jnp.asarray(x), 100), rms, rtol=1e-5)


@pytest.mark.parametrize("p", [0.5, 3])
def test_lp_of_all_zero_windows_is_zero_with_finite_gradients(p):
    x = jnp.zeros((1, 4, 4, 2)).at[0, 0, 0, 0].set(2.0)
    pool = jax.jit(lambda a: lp_pool(a, p, 2, 1))  # the windows touching (0, 0) are not all zero
    y = pool(x)
    assert y[0, 0, 0, 0] > 0 and np.all(y[..., 1] == 0)
    for g in (jax.grad(lambda a: pool(a).sum())(x), jax.jvp(pool, (x,), (jnp.ones_like(x),))[1]):
        assert np.all(np.isfinite(g))
    global_grad = jax.grad(lambda a: global_lp_pool(a, p).sum())(jnp.zeros((1, 3, 3, 2)))
    np.testing.assert_array_equal(global_grad, 0)


def _tie_free(shape):
    """|x| distinct and 0.1 apart, so finite differences swap no window's max, and >= 0.5, away from |x|'s kink."""
    magnitudes = (RNG.permutation(int(np.prod(shape))) * 0.1 + 0.5).reshape(shape)
    return magnitudes * RNG.choice([-1, 1], size=shape)


@pytest.mark.parametrize(
    "pool, order",
    [
        (lambda x: max_pool(x, 3, 2, 1), 1),
        (lambda x: min_pool(x, (2, 3), (2, 1), "SAME"), 1),
        (lambda x: avg_pool(x, 3, 2, 1), 1),
        (lambda x: avg_pool(x, 3, 2, 1, count_include_pad=False), 1),
        (lambda x: lp_pool(x, 3, 3, 2, 1), 2),
        (lambda x: lp_pool(x, 0.5, 2, 1, [(0, 1), (1, 0)], count_include_pad=False), 1),
        (lambda x: lp_pool(x, 40, 2, 1), 1),
        (global_avg_pool, 1),
        (global_max_pool, 1),
        (lambda x: global_lp_pool(x, 2.5, keepdims=True), 2),
    ],
)
def test_gradients_match_finite_differences(pool, order):
    """Second order only where the second derivative is not zero: max, min and averages are piecewise linear."""
    with jax.enable_x64(True):
        x = jnp.asarray(_tie_free((2, 5, 6, 2)))
        check_grads(jax.jit(pool), (x,), order=order, modes=["rev"])


def test_max_pool_gradient_is_one_at_each_windows_max():
    x = jnp.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], jnp.float32)[None, :, :, None]
    grad = jax.grad(lambda a: max_pool(a, 2).sum())(x)[0, :, :, 0]
    np.testing.assert_array_equal(grad, [[0, 0, 0, 0], [0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 1]])


def test_avg_pool_gradient_is_one_over_the_window_size():
    x = jnp.asarray(RNG.normal(size=(2, 6, 6, 3)), jnp.float32)
    grad = jax.grad(lambda a: avg_pool(a, (2, 3)).sum())(x)
    np.testing.assert_array_equal(grad, np.full(x.shape, 1 / 6, np.float32))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_global_pools_reduce_every_spatial_axis(rank):
    x = RNG.normal(size=(2, *SIZES[rank], 3)).astype(np.float32)
    axes = tuple(range(1, rank + 1))
    kept = (2, *(1,) * rank, 3)
    for pool, expected in ((global_avg_pool, x.mean(axes)), (global_max_pool, x.max(axes))):
        np.testing.assert_allclose(pool(jnp.asarray(x)), expected, rtol=1e-5, atol=1e-6)
        assert pool(jnp.asarray(x), keepdims=True).shape == kept
    rms = np.sqrt((x.astype(np.float64) ** 2).mean(axes))
    np.testing.assert_allclose(global_lp_pool(jnp.asarray(x), 2), rms, rtol=1e-5)
    np.testing.assert_allclose(global_lp_pool(jnp.asarray(x), 2, keepdims=True), rms.reshape(kept), rtol=1e-5)
    np.testing.assert_array_equal(global_lp_pool(jnp.asarray(x), float("inf")), np.abs(x).max(axes))


def test_pools_run_under_jit():
    x = jnp.asarray(RNG.normal(size=(2, 8, 8, 3)), jnp.float32)
    for pool in (max_pool, min_pool, avg_pool):
        np.testing.assert_allclose(jax.jit(pool, static_argnums=(1, 2, 3))(x, 3, 2, "SAME"), pool(x, 3, 2, "SAME"))
    np.testing.assert_allclose(jax.jit(lambda a: lp_pool(a, 3, 2))(x), lp_pool(x, 3, 2), rtol=1e-6)


def test_a_window_larger_than_the_padded_input_names_the_sizes():
    x = jnp.zeros((1, 4, 4, 1))
    with pytest.raises(ValueError, match=r"kernel 5 \(dilation 1: spans 5\) is larger than .* 4 \+ 0 \+ 0 = 4"):
        max_pool(x, 5)
    with pytest.raises(ValueError, match=r"kernel 7 .* larger than the padded input 4 \+ 1 \+ 1 = 6"):
        avg_pool(x, (2, 7), padding=1)
    with pytest.raises(ValueError, match=r"larger than the padded input 3 \+ 0 \+ 0 = 3"):
        lp_pool(jnp.zeros((1, 3, 2)), 2, 4)


def test_padding_that_leaves_a_window_without_input_is_rejected():
    x = jnp.zeros((1, 4, 4, 1))
    with pytest.raises(ValueError, match=r"padding \(2, 2\) on spatial axis 0 .* pad at most 1 per side"):
        max_pool(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"padding \(0, 3\) on spatial axis 1"):
        avg_pool(x, 3, 1, [(0, 0), (0, 3)], count_include_pad=False)
    assert max_pool(x, 3, 1, 2).shape == (1, 6, 6, 1)  # k − 1 per side still reaches the input


@pytest.mark.parametrize("p", [0, -1, float("nan")])
def test_non_positive_p_is_rejected(p):
    with pytest.raises(ValueError, match=r"needs p > 0"):
        lp_pool(jnp.ones((1, 4, 4, 1)), p, 2)
    with pytest.raises(ValueError, match=r"needs p > 0"):
        global_lp_pool(jnp.ones((1, 4, 4, 1)), p)


def test_inputs_without_batch_or_channel_axes_are_rejected():
    image = jnp.zeros((4, 4))
    for call in (
        lambda: max_pool(image, 2),
        lambda: min_pool(image, 2),
        lambda: avg_pool(image, 2),
        lambda: lp_pool(image, 2, 2),
        lambda: global_avg_pool(image),
        lambda: global_max_pool(image),
        lambda: global_lp_pool(image, 2),
    ):
        with pytest.raises(ValueError, match=r"\(N, \*spatial, C\).*got shape \(4, 4\)"):
            call()


def test_window_and_stride_must_have_one_entry_per_spatial_axis():
    with pytest.raises(ValueError, match=r"window \(2, 2, 2\) has 3 entries but the window has 2 spatial axes"):
        max_pool(jnp.zeros((1, 4, 4, 1)), (2, 2, 2))
    with pytest.raises(ValueError, match=r"stride \(1,\) has 1 entries"):
        avg_pool(jnp.zeros((1, 4, 4, 1)), 2, (1,))


def test_a_stride_that_leaves_pixels_unread_warns():
    with pytest.warns(BorderWarning, match=r"\(5 \+ 0 \+ 0 − 2\)/2 \+ 1 = 2.5"):
        max_pool(jnp.zeros((1, 5, 4, 1)), 2)


def test_every_offset_of_the_window_is_read():
    """A one-hot input at each position of a 7×7 grid lands in exactly the 3×3/2 windows that cover it."""
    positions = list(itertools.product(range(7), repeat=2))
    x = np.zeros((len(positions), 7, 7, 1), np.float32)
    covered = np.zeros((len(positions), 3, 3, 1))
    for n, (i, j) in enumerate(positions):
        x[n, i, j] = 1
        for a, b in np.ndindex(3, 3):
            covered[n, a, b] = 2 * a <= i < 2 * a + 3 and 2 * b <= j < 2 * b + 3
    np.testing.assert_allclose(lp_pool(jnp.asarray(x), 3, 3, 2), covered * (1 / 9) ** (1 / 3), rtol=1e-6)


def _torch_windows(n: int, k: int, s: int, p: int, ceil_mode: bool):
    """PyTorch's pooling windows along one axis: (start, end, size counting padding) per output,
    transcribed from its documented shape formula and its CPU kernel's loop."""
    span = n + 2 * p - k
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    windows = []
    for i in range(out):
        start = i * s - p
        end = min(start + k, n + p)
        windows.append((max(start, 0), min(end, n), end - start))
    return windows


def _torch_pool_2d(x: np.ndarray, k: int, s: int, p: int, ceil_mode: bool, kind: str, count_include_pad=True):
    rows = _torch_windows(x.shape[1], k, s, p, ceil_mode)
    cols = _torch_windows(x.shape[2], k, s, p, ceil_mode)
    out = np.zeros((x.shape[0], len(rows), len(cols), x.shape[3]))
    for i, (r0, r1, rn) in enumerate(rows):
        for j, (c0, c1, cn) in enumerate(cols):
            window = x[:, r0:r1, c0:c1]
            if kind == "max":
                out[:, i, j] = window.max(axis=(1, 2))
            else:
                count = rn * cn if count_include_pad else (r1 - r0) * (c1 - c0)
                out[:, i, j] = window.sum(axis=(1, 2)) / count
    return out


@pytest.mark.parametrize("n, k, s, p", [(112, 3, 2, 0), (14, 3, 2, 0), (13, 3, 2, 0), (15, 3, 2, 1), (10, 2, 2, 0),
                                        (8, 3, 3, 1), (6, 4, 3, 2)])
def test_ceil_mode_max_and_avg_pooling_match_pytorch(n, k, s, p):
    x = RNG.standard_normal((2, n, n + 1, 3)).astype(np.float32)
    np.testing.assert_array_equal(max_pool(jnp.asarray(x), k, s, p, ceil_mode=True),
                                  _torch_pool_2d(x, k, s, p, True, "max").astype(np.float32))
    for include in (True, False):
        np.testing.assert_allclose(avg_pool(jnp.asarray(x), k, s, p, count_include_pad=include, ceil_mode=True),
                                   _torch_pool_2d(x, k, s, p, True, "avg", include), rtol=1e-5, atol=1e-6)


def test_ceil_mode_keeps_the_pixels_floor_mode_drops():
    # GoogLeNet's 112 → 56 and SqueezeNet's 13 → 6 need ceil mode; floor mode gives 55 and 6.
    assert max_pool(jnp.zeros((1, 112, 112, 1)), 3, 2, ceil_mode=True).shape == (1, 56, 56, 1)
    assert max_pool(jnp.zeros((1, 14, 14, 1)), 3, 2, ceil_mode=True).shape == (1, 7, 7, 1)
    x = jnp.zeros((1, 6, 6, 1)).at[0, 5, 5, 0].set(1.0)
    assert float(max_pool(x, 2, 2, ceil_mode=True)[0, 2, 2, 0]) == 1.0


def _torch_adaptive_avg_pool(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """torch.nn.AdaptiveAvgPool2d's loop: cell (i, j) averages rows floor(i·H/h) … ceil((i+1)·H/h) − 1."""
    (h, w), (H, W) = size, x.shape[1:3]
    out = np.zeros((x.shape[0], h, w, x.shape[3]))
    for i in range(h):
        for j in range(w):
            r0, r1 = (i * H) // h, -(-(i + 1) * H // h)
            c0, c1 = (j * W) // w, -(-(j + 1) * W // w)
            out[:, i, j] = x[:, r0:r1, c0:c1].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("shape, size", [((13, 13), (6, 6)), ((14, 5), (4, 4)), ((3, 2), (7, 7)), ((6, 6), (6, 6))])
def test_adaptive_avg_pool_matches_pytorchs_bins(shape, size):
    x = RNG.standard_normal((2, *shape, 3)).astype(np.float32)
    np.testing.assert_allclose(adaptive_avg_pool(jnp.asarray(x), size), _torch_adaptive_avg_pool(x, size),
                               rtol=1e-5, atol=1e-6)
