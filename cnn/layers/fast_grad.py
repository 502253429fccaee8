"""Training-time fast paths: the same numbers as the plain formulation, computed the way XLA runs fast.

XLA's CPU backend differentiates some layers slowly: the gradient of max pooling (select_and_scatter)
costs ten times its forward pass, convolutions with one to three input channels run several times slower
than the multiply-adds they are, and the input gradient of a convolution that covers its whole input
(LeNet's C5, a dense layer in disguise) costs eight times its forward pass. Each function here is a
`jax.custom_vjp` whose primal is the plain primitive, so inference, `jax.make_jaxpr` (and with it the
receptive-field tracer) and every other backend see exactly what they saw before; only the forward pass
under differentiation and the backward pass are reformulated:

- `tiled_max_pool`: non-overlapping max pooling (stride = window, no padding, sizes divisible). The
  backward pass routes each window's cotangent to the first maximum in row-major window order, which is
  the element `select_and_scatter` picks, as one elementwise pass over a reshaped view.
- `thin_correlate`: a stride-1 convolution of a few input channels. Under differentiation the forward
  pass is Σ over taps and channels of a shifted input slice times a weight row, one fused loop; the
  gradients are the primitive's own.
- `covering_correlate`: a convolution whose kernel covers the padded input (one output position): the
  forward pass, the input gradient and the kernel gradient are one matrix product each.

Tests pin every custom gradient to `jax.grad` of the plain formulation (tests/layers/test_fast_grad.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Pads = tuple[tuple[int, int], ...]

# A convolution with at most this many input channels takes the fused multiply-add forward pass on CPU:
# beyond it, the k·k·C_in slices cost more than XLA's own convolution (measured by `launch.py bench`).
THIN_CHANNELS = 3


def channels_last(rank: int) -> lax.ConvDimensionNumbers:
    """Convolution dimension numbers for (N, *spatial, C) inputs and (*k, C_in, C_out) kernels."""
    spatial = tuple(range(1, rank + 1))
    return lax.ConvDimensionNumbers(
        lhs_spec=(0, rank + 1, *spatial), rhs_spec=(rank + 1, rank, *range(rank)), out_spec=(0, rank + 1, *spatial)
    )


def _conv(x: jax.Array, kernel: jax.Array, pads: Pads) -> jax.Array:
    return lax.conv_general_dilated(x, kernel, (1,) * (x.ndim - 2), pads,
                                    dimension_numbers=channels_last(x.ndim - 2))


def on_cpu() -> bool:
    """Whether computations land on XLA's CPU backend, the one these paths are for."""
    return jax.default_backend() == "cpu"


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


def _tiled_max_pool_fwd(x: jax.Array, window: tuple[int, ...]):
    y = tiled_max_pool(x, window)
    return y, (x, y)


def _tiled_max_pool_bwd(window: tuple[int, ...], residuals, g: jax.Array):
    x, y = residuals
    rank = len(window)
    view = _window_view(x, window)
    expand = tuple(2 + 2 * i for i in range(rank))  # the within-window axes of the view
    hit = view == jnp.expand_dims(y, expand)
    # Keep only the first hit per window in row-major order: a hit counts if no earlier one exists.
    offsets = jnp.stack(jnp.meshgrid(*(jnp.arange(k) for k in window), indexing="ij"), 0)
    order = sum(o * math.prod(window[i + 1:]) for i, o in enumerate(offsets))  # row-major index of each offset
    shape = [1] * view.ndim
    for i, axis in enumerate(expand):
        shape[axis] = window[i]
    order = order.reshape(shape)
    first = jnp.min(jnp.where(hit, order, math.prod(window)), axis=expand, keepdims=True)
    dx = jnp.where(order == first, jnp.expand_dims(g, expand), jnp.zeros((), g.dtype))
    return (dx.reshape(x.shape),)


tiled_max_pool.defvjp(_tiled_max_pool_fwd, _tiled_max_pool_bwd)


# ---- convolutions -------------------------------------------------------------------------------

def thin(x_shape: Sequence[int], kernel_shape: Sequence[int]) -> bool:
    """Whether a stride-1 convolution has few enough input channels for `thin_correlate` to pay."""
    return kernel_shape[-2] <= THIN_CHANNELS and len(kernel_shape) == 4


def _multiply_add(x: jax.Array, kernel: jax.Array, pads: Pads) -> jax.Array:
    """Σ_{i, j, c} x_padded[:, i:i+H', j:j+W', c] · kernel[i, j, c, :], which XLA fuses into one loop."""
    x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    kh, kw, channels, _ = kernel.shape
    height, width = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    terms = (x[:, i:i + height, j:j + width, c:c + 1] * kernel[i, j, c]
             for i in range(kh) for j in range(kw) for c in range(channels))
    return sum(terms)


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def thin_correlate(x: jax.Array, kernel: jax.Array, pads: Pads) -> jax.Array:
    """Stride-1 2D cross-correlation of (N, H, W, C_in) with a (k_h, k_w, C_in, C_out) kernel."""
    return _conv(x, kernel, pads)


def _thin_fwd(x: jax.Array, kernel: jax.Array, pads: Pads):
    return _multiply_add(x, kernel, pads), (x, kernel)


def _thin_bwd(pads: Pads, residuals, g: jax.Array):
    x, kernel = residuals
    return jax.vjp(lambda a, w: _conv(a, w, pads), x, kernel)[1](g)


thin_correlate.defvjp(_thin_fwd, _thin_bwd)


def covers(x_shape: Sequence[int], kernel_shape: Sequence[int], pads: Sequence[tuple[int, int]]) -> bool:
    """Whether the kernel spans the whole padded input, so the convolution has one output position."""
    spatial = x_shape[1:-1]
    return all(n + lo + hi == k for n, k, (lo, hi) in zip(spatial, kernel_shape[:-2], pads))


def _unpad(x: jax.Array, pads: Pads) -> jax.Array:
    return x[(slice(None), *(slice(lo, x.shape[i + 1] - hi) for i, (lo, hi) in enumerate(pads)), slice(None))]


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def covering_correlate(x: jax.Array, kernel: jax.Array, pads: Pads) -> jax.Array:
    """A stride-1 cross-correlation whose kernel covers the padded input: (N, 1, …, 1, C_out)."""
    return _conv(x, kernel, pads)


def _covering_fwd(x: jax.Array, kernel: jax.Array, pads: Pads):
    padded = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    flat = padded.reshape(x.shape[0], -1)
    weights = kernel.reshape(-1, kernel.shape[-1])
    y = (flat @ weights).reshape(x.shape[0], *(1,) * (x.ndim - 2), kernel.shape[-1])
    return y, (flat, weights, padded.shape)


def _covering_bwd(pads: Pads, residuals, g: jax.Array):
    flat, weights, padded_shape = residuals
    g = g.reshape(g.shape[0], -1)
    dx = _unpad((g @ weights.T).reshape(padded_shape), pads)
    dw = (flat.T @ g).reshape(*padded_shape[1:], g.shape[-1])
    return dx, dw


covering_correlate.defvjp(_covering_fwd, _covering_bwd)
