"""Fast paths on XLA's CPU backend: the layers' numbers, computed the way XLA CPU runs fast.

XLA's CPU backend runs some layers far below the machine's matrix-product speed (measured on the
2-core development machine, batch 64–256, with `launch.py bench` and per-layer timings): the gradient
of max pooling (select_and_scatter) costs ten times its forward pass; a convolution with at most four
output positions (ResNet-18's last stage at 64×64 input, 2×2 maps) takes up to 75 times as long as the
same sums as one matrix product; the kernel gradient of a whole batch runs at a fifth of the forward
pass's speed; an input gradient with 6 output channels (LeNet's C3) at a third; a depthwise
convolution's forward pass at a 25th to a 70th. `correlate` and `max_pool` take these paths on CPU:

- `tiled_max_pool`: non-overlapping max pooling (stride = window, no padding, sizes divisible); a
  `jax.custom_vjp` whose forward pass also notes each window's first maximum in row-major window
  order (the element `select_and_scatter` picks) as a small integer, so the backward pass routes the
  cotangent there in one elementwise pass without reading the input again.
- `windowed_max_pool`: every other max pooling of floats (overlapping, strided or padded windows); the
  primitive's forward pass, which also notes each window's first maximum, and a backward pass that
  spreads each window's cotangent back by stride and offset, one fused pass instead of XLA CPU's
  expansion of select_and_scatter (ResNet-18 at 64×64: 4.6% more images/s).
- `matmul_correlate`: a convolution with at most `FEW_POSITIONS` output positions as the matrix
  product of its (im2col) patches with the kernel; autodiff of it is matrix products too.
- `chunked_correlate`, every other ungrouped, undilated convolution: a `jax.custom_vjp` with the
  primitive's forward pass; the kernel gradient summed over batch chunks of about `CHUNK_BYTES` of
  input and output gradient, which stay in cache (a 3×3, 16 → 16 convolution at 32×32, batch 128:
  19 ms as one, 6 ms in chunks); for stride 1 and at most `SCATTER_CHANNELS` input channels the input
  gradient as one matrix product whose per-tap shares are added back at their offsets (col2im).
- `thin_correlate`: the same for stride-1 convolutions of at most `THIN_CHANNELS` input channels, whose
  forward pass is the sum over taps and channels of shifted input slices times kernel rows, one fused
  loop, written to memory once (`materialize`): LeNet's C1 at batch 256 in 1.0 ms instead of the
  primitive's 10.7, a CIFAR stem (3 → 16) at batch 128 in 1.9 ms instead of 4.7.
- `depthwise_correlate`: a depthwise convolution (groups = input channels; MobileNet's, EfficientNet's,
  ShuffleNet's, NASNet's) as the sum over taps of strided input slices times per-channel weights, one
  fused loop; a `jax.custom_vjp` whose input gradient is the same kind of sum over the output gradient.
  XLA CPU runs the grouped primitive as many tiny convolutions: MobileNetV2's 3×3 at 14×14×144, batch
  128, took 95 ms forward and 268 ms with both gradients, against 3.5 and 62 here; the whole MobileNetV2
  train step at 28×28 went from 165 to 695 images/s. Each tap is its own slice in the graph, so a layer
  compiles 0.2 (3×3) to 0.8 s (7×7) longer. Autodiff's gradient of the sum traced twice as slowly
  (NASNet-A mobile's gradient at 67×67 with the tests' fast-compile options: 21.7 s to trace instead of
  8.8, 47 s to compile instead of 35).

XLA CPU fuses a cheap-looking elementwise producer into every consumer and recomputes it there; where
the producer is a 25-term sum and the consumers are a ReLU, a pooling window and their gradients, that
recomputation was half of LeNet's train step. `materialize` stops it where measured to matter.

Within `plain()`, and on every other backend, the layers emit the plain primitives
(conv_general_dilated, reduce_window_max): the receptive-field tracer reads those. Tests pin every
path's values and gradients to the plain primitives' (tests/layers/test_fast_paths.py).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Pads = tuple[tuple[int, int], ...]

# Thresholds measured with `launch.py bench` and the per-layer timings in benchmarks/README.md: beyond
# them XLA's own convolution is as fast or faster.
THIN_CHANNELS = 3
FEW_POSITIONS = 4
SCATTER_CHANNELS = 8  # at most this many input channels: the input gradient as a product and col2im
BANDED_WIDTH = 3  # padded last axis at most this many kernel widths: the input gradient as a banded product
CHUNK_BYTES = 2 * 2**20
CHUNK_EXAMPLES = 16  # at most, unless that makes more than MAX_CHUNKS chunks
MAX_CHUNKS = 16  # each chunk is one more kernel-gradient convolution to compile

_PLAIN = contextvars.ContextVar("plain_primitives", default=False)


@contextlib.contextmanager
def plain() -> Iterator[None]:
    """Within this block every layer emits its plain primitive, whatever the backend."""
    token = _PLAIN.set(True)
    try:
        yield
    finally:
        _PLAIN.reset(token)


def enabled() -> bool:
    """Whether the fast paths apply: on XLA's CPU backend, outside `plain()`."""
    return not _PLAIN.get() and jax.default_backend() == "cpu"


def channels_last(rank: int) -> lax.ConvDimensionNumbers:
    """Convolution dimension numbers for (N, *spatial, C) inputs and (*k, C_in, C_out) kernels."""
    spatial = tuple(range(1, rank + 1))
    return lax.ConvDimensionNumbers(
        lhs_spec=(0, rank + 1, *spatial), rhs_spec=(rank + 1, rank, *range(rank)), out_spec=(0, rank + 1, *spatial)
    )


def _conv(x: jax.Array, kernel: jax.Array, pads: Pads, strides: Sequence[int] | None = None) -> jax.Array:
    rank = x.ndim - 2
    return lax.conv_general_dilated(x, kernel, tuple(strides or (1,) * rank), pads,
                                    dimension_numbers=channels_last(rank))


def _padded_taps(x: jax.Array, kernel_size: Sequence[int], strides: Sequence[int],
                 pads: Pads, fill: float = 0.0) -> Iterator[jax.Array]:
    """The (N, *out, C) slice of the `fill`-padded input each kernel (or window) tap reads, taps in
    row-major order."""
    x = jnp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=fill)
    out = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:-1], kernel_size, strides)]
    for offset in np.ndindex(*kernel_size):
        yield x[(slice(None), *(slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offset, strides, out)),
                 slice(None))]


# ---- max pooling --------------------------------------------------------------------------------

def tiles(shape: Sequence[int], window: Sequence[int], strides: Sequence[int], pads: Sequence[tuple[int, int]]) -> bool:
    """Whether a pooling of (N, *spatial, C) `shape` is a tiling: stride = window, no padding, sizes divisible."""
    return (tuple(window) == tuple(strides) and all(p == (0, 0) for p in map(tuple, pads))
            and all(n % k == 0 for n, k in zip(shape[1:-1], window)))


def _window_view(x: jax.Array, window: tuple[int, ...]) -> jax.Array:
    """(N, n_1, …, C) as (N, n_1/k_1, k_1, …, C): each window's elements on their own axes."""
    shape = [x.shape[0]]
    for n, k in zip(x.shape[1:-1], window):
        shape += [n // k, k]
    return x.reshape(*shape, x.shape[-1])


@partial(jax.custom_vjp, nondiff_argnums=(1,))
def tiled_max_pool(x: jax.Array, window: tuple[int, ...]) -> jax.Array:
    """Max pooling over non-overlapping `window`s tiling the spatial axes of x (N, *spatial, C)."""
    rank = len(window)
    init = np.array(-np.inf, x.dtype)  # a NumPy constant, so lax sees the max's identity: reduce_window_max
    return lax.reduce_window(x, init, lax.max, (1, *window, 1), (1, *window, 1), ((0, 0),) * (rank + 2))


def _window_order(window: tuple[int, ...], ndim: int) -> tuple[tuple[int, ...], np.ndarray]:
    """The within-window axes of a `_window_view` of rank `ndim`, and each window element's row-major index
    broadcast along them."""
    expand = tuple(2 + 2 * i for i in range(len(window)))
    shape = [1] * ndim
    for axis, k in zip(expand, window):
        shape[axis] = k
    return expand, np.arange(math.prod(window)).reshape(shape)


def _tiled_max_pool_fwd(x: jax.Array, window: tuple[int, ...]):
    view = _window_view(x, window)
    expand, order = _window_order(window, view.ndim)
    y = jnp.max(view, axis=expand)
    # The first maximum per window in row-major order, the element select_and_scatter picks, found here
    # while x is at hand: the backward pass then reads one small index per window, not x again.
    hit = view == jnp.expand_dims(y, expand)
    size = math.prod(window)
    first = jnp.min(jnp.where(hit, order, size), axis=expand).astype(np.int8 if size <= 127 else np.int32)
    return y, first


def _tiled_max_pool_bwd(window: tuple[int, ...], first: jax.Array, g: jax.Array):
    expand, order = _window_order(window, first.ndim + len(window))
    dx = jnp.where(order == jnp.expand_dims(first, expand), jnp.expand_dims(g, expand), jnp.zeros((), g.dtype))
    shape = [d * k for d, k in zip(g.shape[1:-1], window)]
    return (dx.reshape(g.shape[0], *shape, g.shape[-1]),)


tiled_max_pool.defvjp(_tiled_max_pool_fwd, _tiled_max_pool_bwd)


def windowed_max_pool(x: jax.Array, window: tuple[int, ...], strides: tuple[int, ...], pads: Pads) -> jax.Array:
    """Max pooling over any windows (overlapping, strided, −∞-padded) of x (N, *spatial, C): the primitive's
    forward pass, and a gradient that routes each cotangent to its window's first maximum (row-major, as
    select_and_scatter does) noted in the forward pass. XLA CPU expands select_and_scatter into a
    reduce-window over the input carrying one int32 index array per axis, each as large as the input:
    ResNet-18's train step at 64×64, batch 64, went from 128 to 134 images/s."""
    return _windowed_max_pool(x, tuple(window), tuple(strides), tuple(map(tuple, pads)), tuple(x.shape[1:-1]))


@partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _windowed_max_pool(x: jax.Array, window: tuple[int, ...], strides: tuple[int, ...], pads: Pads,
                       spatial: tuple[int, ...]) -> jax.Array:
    return _windowed_max_pool_fwd(x, window, strides, pads, spatial)[0]


def _windowed_max_pool_fwd(x: jax.Array, window: tuple[int, ...], strides: tuple[int, ...], pads: Pads,
                           spatial: tuple[int, ...]):
    init = np.array(-np.inf, x.dtype)
    y = lax.reduce_window(x, init, lax.max, (1, *window, 1), (1, *strides, 1), ((0, 0), *pads, (0, 0)))
    size = math.prod(window)
    first = jnp.full(y.shape, size, np.int8 if size <= 127 else np.int32)
    for t, tap in reversed(list(enumerate(_padded_taps(x, window, strides, pads, fill=-np.inf)))):
        first = jnp.where(tap == y, jnp.asarray(t, first.dtype), first)
    return y, first


def _windowed_max_pool_bwd(window: tuple[int, ...], strides: tuple[int, ...], pads: Pads, spatial: tuple[int, ...],
                           first: jax.Array, g: jax.Array):
    zero = jnp.zeros((), g.dtype)
    # Tap t of output o sits at o·s + offset in the padded input: g spread by the stride, shifted by the offset.
    dx = sum(lax.pad(jnp.where(first == t, g, zero), zero, [(0, 0, 0), *(
        (o, n + lo + hi - o - (m - 1) * s - 1, s - 1)
        for o, s, n, (lo, hi), m in zip(offset, strides, spatial, pads, g.shape[1:-1])), (0, 0, 0)])
        for t, offset in enumerate(np.ndindex(*window)))
    inside = tuple(slice(lo, lo + n) for n, (lo, _) in zip(spatial, pads))
    return (dx[(slice(None), *inside, slice(None))],)


_windowed_max_pool.defvjp(_windowed_max_pool_fwd, _windowed_max_pool_bwd)


# ---- convolutions -------------------------------------------------------------------------------

def correlate(x: jax.Array, kernel: jax.Array, strides: Sequence[int], pads: Sequence[tuple[int, int]],
              out: Sequence[int], groups: int = 1) -> jax.Array:
    """The undilated cross-correlation of (N, *spatial, C_in) x onto `out` positions per axis, ungrouped
    (groups = 1) or depthwise (groups = C_in), by its fastest path."""
    pads, strides = tuple(map(tuple, pads)), tuple(strides)
    if groups > 1:
        return depthwise_correlate(x, kernel, strides, pads)
    if math.prod(out) <= FEW_POSITIONS:
        return matmul_correlate(x, kernel, strides, pads)
    if x.ndim == 4 and kernel.shape[-2] <= THIN_CHANNELS and set(strides) == {1}:
        return thin_correlate(x, kernel, pads)
    return chunked_correlate(x, kernel, strides, pads)


def matmul_correlate(x: jax.Array, kernel: jax.Array, strides: tuple[int, ...], pads: Pads) -> jax.Array:
    """Cross-correlation as (N·positions, k·C_in) patches times the (k·C_in, C_out) kernel."""
    patches = jnp.concatenate(list(_padded_taps(x, kernel.shape[:-2], strides, pads)), axis=-1)
    return patches @ kernel.reshape(-1, kernel.shape[-1])


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def depthwise_correlate(x: jax.Array, kernel: jax.Array, strides: tuple[int, ...], pads: Pads) -> jax.Array:
    """Depthwise cross-correlation (groups = C_in, kernel (*k, 1, m·C_in), output channel c·m + j reading
    input channel c) as the sum over taps of strided input slices times the tap's per-channel weights:
    one fused loop, written to memory once. Its input gradient is the same kind of sum, over the output
    gradient (spread by the stride) and the flipped kernel; its kernel gradient one reduction per tap."""
    return _depthwise_fwd(x, kernel, strides, pads)[0]


def _repeat_channels(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """x with each channel repeated for the kernel's channel multiplier m: input channel c feeds c·m + j."""
    multiplier = kernel.shape[-1] // x.shape[-1]
    return jnp.repeat(x, multiplier, axis=-1) if multiplier > 1 else x


def _tap_sum(x: jax.Array, weights: jax.Array, strides: Sequence[int], pads: Pads) -> jax.Array:
    """Σ_taps padded-input slice · the tap's (C,) weights, for weights of shape (*k, C)."""
    kernel_size = weights.shape[:-1]
    return sum(tap * weights[offset] for tap, offset in zip(_padded_taps(x, kernel_size, strides, pads),
                                                            np.ndindex(*kernel_size)))


def _depthwise_fwd(x: jax.Array, kernel: jax.Array, strides: tuple[int, ...], pads: Pads):
    return materialize(_tap_sum(_repeat_channels(x, kernel), kernel[..., 0, :], strides, pads), kernel), (x, kernel)


def _depthwise_bwd(strides: tuple[int, ...], pads: Pads, residuals, g: jax.Array):
    # Autodiff of the forward sum gives the same numbers but transposes every slice into a pad of its own:
    # twice the tracing and more compilation per layer (NASNet has a hundred 5×5 and 7×7 of them).
    x, kernel = residuals
    kernel_size, weights = kernel.shape[:-2], kernel[..., 0, :]
    # The padded input gradient at p is Σ_k w[k] g_spread[p - k], g_spread holding g[o] at o·s; shifted by
    # k - 1 and with the padding cut off, that is a stride-1 tap sum with the flipped kernel.
    spread = lax.pad(g, jnp.zeros((), g.dtype), [(0, 0, 0), *(
        (k - 1 - lo, n + lo - (o - 1) * s - 1, s - 1)
        for k, (lo, hi), n, o, s in zip(kernel_size, pads, x.shape[1:-1], g.shape[1:-1], strides)), (0, 0, 0)])
    flipped = weights[tuple(slice(None, None, -1) for _ in kernel_size)]
    dx = _tap_sum(spread, flipped, (1,) * len(kernel_size), ((0, 0),) * len(kernel_size))
    dx = dx.reshape(*x.shape, -1).sum(-1)  # the channel multiplier's copies of each input channel
    taps = _padded_taps(_repeat_channels(x, kernel), kernel_size, strides, pads)
    dw = jnp.stack([jnp.sum(tap * g, axis=tuple(range(g.ndim - 1))) for tap in taps])
    return materialize(dx, kernel), dw.reshape(kernel.shape)


depthwise_correlate.defvjp(_depthwise_fwd, _depthwise_bwd)


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def thin_correlate(x: jax.Array, kernel: jax.Array, pads: Pads) -> jax.Array:
    """Stride-1 2D cross-correlation as `_multiply_add`, with the primitive's gradients."""
    return _multiply_add(x, kernel, pads)


def materialize(y: jax.Array, anchor: jax.Array | None = None) -> jax.Array:
    """y, computed once into memory where the fast paths apply (`enabled()`; elsewhere y as it is).

    XLA CPU fuses a cheap-looking elementwise producer into each of its consumers and recomputes it
    there: LeNet's C1, a 25-term multiply-add, four times over (ReLU, pooling and their gradients took
    12 of a 25 ms step). Both branches of a conditional whose predicate XLA cannot fold (`anchor ==
    anchor`, false only for NaN; the anchor is y unless given) return y unchanged; a conditional's
    result is a buffer, so its consumers read y. `lax.optimization_barrier` would say this, but XLA
    CPU removes barriers before fusing. (A ResNet's identity-shortcut chains are recomputed the same
    way, but materializing each block's output gained ResNet-20 and ResNet-18 1%: not done.)"""
    if not enabled():
        return y
    anchor = jnp.ravel(y if anchor is None else anchor)[0]
    return lax.cond(anchor == anchor, lambda a: a, lambda a: a * 1, y)


def _multiply_add(x: jax.Array, kernel: jax.Array, pads: Pads) -> jax.Array:
    """Σ_{i, j, c} x_padded[:, i:i+H', j:j+W', c] · kernel[i, j, c, :], one fused loop, materialized."""
    kernel_size, channels = kernel.shape[:-2], kernel.shape[-2]
    taps = _padded_taps(x, kernel_size, (1, 1), pads)
    return materialize(sum(tap[..., c:c + 1] * kernel[(*offset, c)]
                           for tap, offset in zip(taps, np.ndindex(*kernel_size)) for c in range(channels)), kernel)


def _thin_fwd(x: jax.Array, kernel: jax.Array, pads: Pads):
    return _multiply_add(x, kernel, pads), (x, kernel)


def _thin_bwd(pads: Pads, residuals, g: jax.Array):
    x, kernel = residuals
    return _conv_vjp(x, kernel, (1,) * (x.ndim - 2), pads, g)


thin_correlate.defvjp(_thin_fwd, _thin_bwd)


def _conv_vjp(x: jax.Array, kernel: jax.Array, strides: tuple[int, ...], pads: Pads,
              g: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The convolution's input gradient, and its kernel gradient as a sum over batch chunks."""
    if set(strides) == {1} and kernel.shape[-2] <= SCATTER_CHANNELS:
        narrow = x.shape[-2] + sum(pads[-1]) <= BANDED_WIDTH * kernel.shape[-3]
        dx = (_banded_input_gradient if narrow else _scatter_input_gradient)(g, kernel, pads, x.shape)
    else:
        dx = jax.vjp(lambda a: _conv(a, kernel, pads, strides), x)[1](g)[0]
    per_example = (math.prod(x.shape[1:]) + math.prod(g.shape[1:])) * x.dtype.itemsize
    chunk = max(1, min(CHUNK_BYTES // per_example, CHUNK_EXAMPLES), -(-x.shape[0] // MAX_CHUNKS))
    dw = sum(jax.vjp(lambda w: _conv(x[i:i + chunk], w, pads, strides), kernel)[1](g[i:i + chunk])[0]
             for i in range(0, x.shape[0], chunk))
    return dx, dw


def _scatter_input_gradient(g: jax.Array, kernel: jax.Array, pads: Pads, x_shape: Sequence[int]) -> jax.Array:
    """A stride-1 convolution's input gradient as (N·positions, C_out) × (C_out, k·C_in), each tap's
    share then added into the padded input at the tap's offset (col2im) and the padding cut off."""
    taps = g @ kernel.reshape(-1, kernel.shape[-1]).T  # (N, *out, k·C_in)
    kernel_size, out = kernel.shape[:-2], g.shape[1:-1]
    taps = taps.reshape(*g.shape[:-1], math.prod(kernel_size), kernel.shape[-2])
    padded = [n + lo + hi for n, (lo, hi) in zip(x_shape[1:-1], pads)]
    dx = sum(jnp.pad(taps[..., t, :], ((0, 0), *((o, p - n - o) for o, p, n in zip(offset, padded, out)), (0, 0)))
             for t, offset in enumerate(np.ndindex(*kernel_size)))
    inside = tuple(slice(lo, lo + n) for n, (lo, _) in zip(x_shape[1:-1], pads))
    # Materialized: the pooling gradient that consumes it would otherwise redo the 25-term sum per element
    # of its window (LeNet's S2: 3.2 ms of a 17 ms step).
    return materialize(dx[(slice(None), *inside, slice(None))], kernel)


def _banded_input_gradient(g: jax.Array, kernel: jax.Array, pads: Pads, x_shape: Sequence[int]) -> jax.Array:
    """A stride-1 convolution's input gradient with the last axis's taps folded into matrices: each output
    row (last axis × C_out) times one banded Toeplitz matrix per tap of the other axes gives that tap's
    whole padded input row (last axis × C_in), added back at the tap's offset.

    For a narrow last axis (LeNet's C3: 10 outputs, 14 padded inputs, 5 taps) this is one matrix product
    with 2.8 times the useful multiply-adds, and a col2im of 5 contiguous 84-float rows per input row
    instead of 25 scattered 6-float ones: LeNet-5's train step at batch 256 went from 17,200 to 22,000
    images/s. The wasted products grow with the width over the kernel's, hence `BANDED_WIDTH`."""
    out, padded = g.shape[1:-1], [n + lo + hi for n, (lo, hi) in zip(x_shape[1:-1], pads)]
    *lead_taps, taps = kernel.shape[:-2]
    c_in, c_out = kernel.shape[-2:]
    band = np.zeros((taps, out[-1], padded[-1]), kernel.dtype)  # band[b, o, j]: output o reads input j = o + b
    for b in range(taps):
        band[b, np.arange(out[-1]), np.arange(out[-1]) + b] = 1
    # rows[(o, d), (t, j, c)] = kernel[t, j - o, c, d], t running over the taps of the leading axes
    rows = jnp.einsum("boj,...bcd->od...jc", band, kernel).reshape(out[-1] * c_out, -1)
    shares = (g.reshape(-1, out[-1] * c_out) @ rows).reshape(*g.shape[:-2], math.prod(lead_taps), -1)
    dx = sum(jnp.pad(shares[..., t, :], ((0, 0), *((o, p - n - o) for o, p, n in zip(offset, padded, out)), (0, 0)))
             for t, offset in enumerate(np.ndindex(*lead_taps)))
    dx = dx.reshape(g.shape[0], *padded, c_in)
    inside = tuple(slice(lo, lo + n) for n, (lo, _) in zip(x_shape[1:-1], pads))
    return materialize(dx[(slice(None), *inside, slice(None))], kernel)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def chunked_correlate(x: jax.Array, kernel: jax.Array, strides: tuple[int, ...], pads: Pads) -> jax.Array:
    """The plain cross-correlation, whose kernel gradient is summed over batch chunks."""
    return _conv(x, kernel, pads, strides)


def _chunked_fwd(x: jax.Array, kernel: jax.Array, strides: tuple[int, ...], pads: Pads):
    return _conv(x, kernel, pads, strides), (x, kernel)


def _chunked_bwd(strides: tuple[int, ...], pads: Pads, residuals, g: jax.Array):
    return _conv_vjp(*residuals, strides, pads, g)


chunked_correlate.defvjp(_chunked_fwd, _chunked_bwd)
