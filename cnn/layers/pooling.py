"""Pooling over 1D, 2D and 3D inputs: max, min, average and power-mean (L^p) pooling, local and global.

Inputs are channels-last batches (N, *spatial, C): (N, W, C) sequences, (N, H, W, C) images,
(N, D, H, W, C) volumes; every channel is pooled on its own. A window of k positions slides
with stride s (by default s = k: non-overlapping windows) over the input padded by (p_lo, p_hi),
giving n_out = floor((n + p_lo + p_hi − k)/s) + 1 positions per axis (`cnn.layers.padding`).
Over the window R_i of output position i:

    max:  y_i = max_{j ∈ R_i} x_j                        padding is −∞, so it never wins
    min:  y_i = min_{j ∈ R_i} x_j                        padding is +∞
    avg:  y_i = (1/N_i) Σ_{j ∈ R_i} x_j                  padding is 0
    lp:   y_i = ((1/N_i) Σ_{j ∈ R_i} |x_j|^p)^(1/p)      padding is 0

with N_i = k_1 ⋯ k_r (count_include_pad=True) or the number of real input pixels in R_i. The
last is the Hölder (power) mean of |x|: p = 1 is the mean of |x|, p = 2 the root mean square and
p → ∞ the max of |x|; it increases with p. Hölder means are defined on non-negative values, so
lp pooling takes |x| (the identity after a ReLU) and is defined for inputs of any sign.

Max pooling passes the gradient to the argmax of each window only (the notes: ∂y_i/∂x_j = 1 at
the max, 0 elsewhere; among tied maxima one gets it), average pooling spreads 1/N_i over the
window. Global pooling reduces all spatial axes, (N, *spatial, C) → (N, C): NiN, GoogLeNet and
ResNet end with a global average instead of fully connected layers.

`ceil_mode=True` (Caffe's rounding, PyTorch's ceil_mode) counts n_out = ceil((n + p_lo + p_hi − k)/s) + 1
instead, dropping a last window that would start past the input and its left padding: the
last window runs over the bottom/right border by up to s − 1 positions, which count as padding
(−∞ for max; for avg they are left out of N_i even with count_include_pad, as in both libraries).
`adaptive_avg_pool` is PyTorch's AdaptiveAvgPool: a fixed output size whatever the input's.

Padding must leave a real pixel in every window (at most k − 1 per side) and is rejected
otherwise: such a window has no maximum (−∞) and no mean (0/0). Against other libraries:
flax.linen's max_pool, min_pool and avg_pool (count_include_pad included) compute the same;
PyTorch's LPPool is (Σ x^p)^(1/p), a sum without 1/N (N^(1/p) times ours on non-negative input)
and without |·|.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnn.layers import fast_paths
from cnn.layers.padding import Pair, Padding, pad, resolve_padding, spatial_tuple, stacked_windows, window_sizes


def _check_batch(x: jax.Array, what: str) -> None:
    if x.ndim < 3:
        raise ValueError(
            f"{what} needs a channels-last batch (N, *spatial, C), e.g. (N, W, C), (N, H, W, C) or "
            f"(N, D, H, W, C), got shape {x.shape}; add the missing batch or channel axis"
        )


def _ceil_overhang(n: int, k: int, s: int, lo: int, hi: int) -> int:
    """Positions past the padded input that ceil mode's last window covers (0 when s divides evenly)."""
    out = -(-(n + lo + hi - k) // s) + 1
    if (out - 1) * s >= n + lo:  # that window would start past the input: drop it
        out -= 1
    return max(0, (out - 1) * s + k - (n + lo + hi))


def _windows(
    x: jax.Array, window: int | Sequence[int], stride: int | Sequence[int] | None, padding: Padding, what: str,
    ceil_mode: bool = False,
) -> tuple[tuple[int, ...], tuple[int, ...], list[Pair], tuple[int, ...], tuple[int, ...]]:
    """Window, stride, (lo, hi) padding (ceil mode's overhang included) and output size per spatial
    axis, validated, and the overhang on its own."""
    _check_batch(x, what)
    rank = x.ndim - 2
    sizes = x.shape[1:-1]
    ks = spatial_tuple(window, rank, "window")
    strides = ks if stride is None else spatial_tuple(stride, rank, "stride")
    ones = (1,) * rank
    pads = resolve_padding(padding, sizes, ks, strides, ones)
    overhang = tuple(_ceil_overhang(n, k, s, lo, hi) if ceil_mode else 0
                     for n, k, s, (lo, hi) in zip(sizes, ks, strides, pads))
    pads = [(lo, hi + o) for (lo, hi), o in zip(pads, overhang)]
    out = window_sizes(sizes, ks, strides, pads, ones)
    for axis, (n, k, s, (lo, hi), o) in enumerate(zip(sizes, ks, strides, pads, out)):
        # The first window starts at 0, the last at (o − 1)s; the input occupies [lo, lo + n).
        if lo >= k or (o - 1) * s >= lo + n:
            raise ValueError(
                f"{what}: padding ({lo}, {hi}) on spatial axis {axis} (size {n}, window {k}, stride {s}) leaves "
                f"windows with no input pixel; pad at most {k - 1} per side"
            )
    return ks, strides, pads, out, overhang


def _reduce(x: jax.Array, init, op, ks, strides, pads) -> jax.Array:
    """lax.reduce_window over the spatial windows, leaving the batch and channel axes alone."""
    return lax.reduce_window(x, init, op, (1, *ks, 1), (1, *strides, 1), ((0, 0), *pads, (0, 0)))


def _extreme(dtype: np.dtype, largest: bool) -> np.ndarray:
    # reduce_window recognises max/min (and differentiates them) only when the initial value is
    # exactly the identity of the reduction, in the operand's dtype.
    if jnp.issubdtype(dtype, jnp.inexact):
        return np.array(np.inf if largest else -np.inf, dtype)
    info = jnp.iinfo(dtype)
    return np.array(info.max if largest else info.min, dtype)


def _as_float(x: jax.Array) -> jax.Array:
    # Integer pixels (uint8 images) would overflow when summed and truncate when divided.
    return x.astype(jnp.result_type(x.dtype, float))


def _extreme_pool(x, window, stride, padding, ceil_mode: bool, largest: bool, what: str) -> jax.Array:
    ks, strides, pads, _, _ = _windows(x, window, stride, padding, what, ceil_mode)
    floating = jnp.issubdtype(x.dtype, jnp.floating)
    if largest and floating and fast_paths.enabled():
        if fast_paths.tiles(x.shape, ks, strides, pads):
            return fast_paths.tiled_max_pool(x, ks)
        return fast_paths.windowed_max_pool(x, ks, strides, pads)
    return _reduce(x, _extreme(x.dtype, not largest), lax.max if largest else lax.min, ks, strides, pads)


def max_pool(
    x: jax.Array, window: int | Sequence[int], stride: int | Sequence[int] | None = None, padding: Padding = "VALID",
    ceil_mode: bool = False,
) -> jax.Array:
    """Max pooling y_i = max_{j ∈ R_i} x_j; the gradient reaches only each window's argmax.

    x is (N, *spatial, C); `window` and `stride` (default: the window) are an int for every
    spatial axis or one per axis, `padding` any spelling of `cnn.layers.padding.resolve_padding`
    (padded positions are −∞). The result is (N, *out, C) with out = floor((n + p_lo + p_hi − k)/s) + 1,
    or with `ceil_mode` ceil(...) + 1 (see the module docstring).
    """
    return _extreme_pool(x, window, stride, padding, ceil_mode, True, "max_pool")


def min_pool(
    x: jax.Array, window: int | Sequence[int], stride: int | Sequence[int] | None = None, padding: Padding = "VALID",
    ceil_mode: bool = False,
) -> jax.Array:
    """Min pooling y_i = min_{j ∈ R_i} x_j, i.e. −max_pool(−x); padding is +∞, the rest as `max_pool`."""
    return _extreme_pool(x, window, stride, padding, ceil_mode, False, "min_pool")


def _real_counts(shape: Sequence[int], ks, strides, pads, dtype) -> jax.Array:
    """N_i, the number of real input pixels in each window, shaped (1, *out, 1) to broadcast."""
    ones = jnp.ones((1, *shape[1:-1], 1), dtype)
    return _reduce(ones, 0.0, lax.add, ks, strides, pads)


def avg_pool(
    x: jax.Array,
    window: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    count_include_pad: bool = True,
    ceil_mode: bool = False,
) -> jax.Array:
    """Average pooling y_i = (1/N_i) Σ_{j ∈ R_i} x_j, padding counting as zeros.

    N_i is the window size k_1 ⋯ k_r, or with count_include_pad=False the number of real pixels
    in R_i, so border windows average only the input they cover. Arguments and shapes as `max_pool`.
    """
    x = _as_float(x)
    ks, strides, pads, _, overhang = _windows(x, window, stride, padding, "avg_pool", ceil_mode)
    sums = _reduce(x, 0.0, lax.add, ks, strides, pads)
    if not count_include_pad:
        return sums / _real_counts(x.shape, ks, strides, pads, x.dtype)
    if not any(overhang):
        return sums / math.prod(ks)
    # Explicit padding counts, ceil mode's overhang does not: count the padded input's positions.
    padded = [n + lo + hi - o for n, (lo, hi), o in zip(x.shape[1:-1], pads, overhang)]
    return sums / _real_counts((1, *padded, 1), ks, strides, [(0, o) for o in overhang], x.dtype)


def _bin_averages(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in): row i is 1/|B_i| on B_i = [floor(i·n_in/n_out), ceil((i + 1)·n_in/n_out)), PyTorch's bins."""
    matrix = np.zeros((n_out, n_in), np.float32)
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -(-(i + 1) * n_in // n_out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_avg_pool(x: jax.Array, size: int | Sequence[int]) -> jax.Array:
    """(N, *spatial, C) → (N, *size, C): output i averages the input bin B_i on every spatial axis.

    B_i = [floor(i·n/m), ceil((i + 1)·n/m)) for n inputs and m outputs, as torch's
    AdaptiveAvgPool (bins overlap when n is not a multiple of m, and repeat when n < m). The
    identity when the input already has `size`. Computed as one averaging matrix per axis.
    """
    _check_batch(x, "adaptive_avg_pool")
    size = spatial_tuple(size, x.ndim - 2, "size")
    if x.shape[1:-1] == size:
        return x
    x = _as_float(x)
    for axis, (n, m) in enumerate(zip(x.shape[1:-1], size), start=1):
        # "highest": an average must not be rounded to TF32/bfloat16 on accelerators.
        x = jnp.moveaxis(jnp.tensordot(_bin_averages(n, m), x, axes=([1], [axis]),
                                       precision=lax.Precision.HIGHEST), 0, axis)
    return x


def _check_p(p: float, what: str) -> None:
    if not p > 0:
        raise ValueError(f"{what} needs p > 0 (1: mean of |x|, 2: root mean square, inf: max of |x|), got p = {p}")


# Jitted, as `stacked_windows` is, so that an eager call compiles once: lp pooling is a few dozen
# small operations, each compiled on its own otherwise.
@partial(jax.jit, static_argnames=("p", "axis"))
def _power_mean(a: jax.Array, p: float, axis: int | tuple[int, ...], count) -> jax.Array:
    """(Σ a^p / count)^(1/p) over `axis` of a >= 0, computed as m · (Σ (a/m)^p / count)^(1/p).

    m = max a is held constant (stop_gradient): the result does not depend on m, so gradients
    stay exact, while every (a/m)^p lies in [0, 1] and cannot overflow for large p.
    """
    m = lax.stop_gradient(jnp.max(a, axis, keepdims=True))
    # An all-zero window has any scale; 1 avoids 0/0.
    ratio = a / jnp.where(m > 0, m, 1)
    # The double `where` keeps the infinite derivatives of r^p at r = 0 (p < 1) and of s^(1/p)
    # at s = 0 (p > 1) out of the gradient: zeros get gradient 0, as ReLU at 0.
    nonzero = ratio > 0
    powers = jnp.where(nonzero, jnp.where(nonzero, ratio, 1) ** p, 0)
    mean = jnp.sum(powers, axis) / count
    positive = mean > 0
    return jnp.where(positive, jnp.squeeze(m, axis) * jnp.where(positive, mean, 1) ** (1 / p), 0)


def lp_pool(
    x: jax.Array,
    p: float,
    window: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: Padding = "VALID",
    count_include_pad: bool = True,
) -> jax.Array:
    """Power-mean (Hölder, L^p) pooling y_i = ((1/N_i) Σ_{j ∈ R_i} |x_j|^p)^(1/p), p > 0.

    Hölder means are defined on non-negative values; taking |x| (the identity after a ReLU)
    defines it for any sign. p = 1 averages |x|, p = 2 is the root mean square, p = inf takes
    max |x|; padding counts as zeros and N_i is as in `avg_pool`. Each window is scaled by its
    own max |x| before the power, so large p (100 and more) neither overflows nor underflows.
    p is a Python number; the gradient at x = 0 is taken as 0. Arguments and shapes otherwise
    as `max_pool`.
    """
    _check_p(p, "lp_pool")
    x = _as_float(x)
    ks, strides, pads, out, _ = _windows(x, window, stride, padding, "lp_pool")
    if p == math.inf:
        return max_pool(jnp.abs(x), ks, strides, pads)
    # Windows may overlap, so the per-window scale needs every window's elements side by side.
    windows = stacked_windows(pad(jnp.abs(x), pads), ks, strides, out)
    count = math.prod(ks) if count_include_pad else _real_counts(x.shape, ks, strides, pads, x.dtype)
    return _power_mean(windows, p, tuple(range(-len(ks), 0)), count)


def _spatial_axes(x: jax.Array, what: str) -> tuple[int, ...]:
    _check_batch(x, what)
    return tuple(range(1, x.ndim - 1))


def global_avg_pool(x: jax.Array, keepdims: bool = False) -> jax.Array:
    """Global average pooling y[n, c] = (1/|Ω|) Σ_{j ∈ Ω} x[n, j, c] over all spatial positions Ω.

    (N, *spatial, C) → (N, C), or (N, 1, …, 1, C) with keepdims.
    """
    return jnp.mean(_as_float(x), _spatial_axes(x, "global_avg_pool"), keepdims=keepdims)


def global_max_pool(x: jax.Array, keepdims: bool = False) -> jax.Array:
    """Global max pooling y[n, c] = max_{j ∈ Ω} x[n, j, c]; shapes as `global_avg_pool`."""
    return jnp.max(x, _spatial_axes(x, "global_max_pool"), keepdims=keepdims)


def global_lp_pool(x: jax.Array, p: float, keepdims: bool = False) -> jax.Array:
    """Global power-mean pooling y[n, c] = ((1/|Ω|) Σ_{j ∈ Ω} |x[n, j, c]|^p)^(1/p); p as in `lp_pool`.

    Shapes as `global_avg_pool`.
    """
    axes = _spatial_axes(x, "global_lp_pool")
    _check_p(p, "global_lp_pool")
    a = jnp.abs(_as_float(x))
    if p == math.inf:
        y = jnp.max(a, axes)
    else:
        y = _power_mean(a, p, axes, math.prod(x.shape[1:-1]))
    return y.reshape(x.shape[0], *(1,) * len(axes), x.shape[-1]) if keepdims else y
