"""Padding and output-size arithmetic shared by convolution, pooling and the image filters.

The output size of a sliding window (the notes, lecture 3) is

    n_out = floor((n + p_lo + p_hi − (d(k − 1) + 1)) / s) + 1

with symmetric padding p_lo = p_hi = p giving the familiar (n + 2p − d(k − 1) − 1)/s + 1.
A transposed window inverts it: n_out = (n − 1)s − p_lo − p_hi + d(k − 1) + 1 + output_padding.

Padding is given as "VALID", "SAME" (TensorFlow's rule: out = ceil(n/s), the odd pixel of
padding at the end), an int (that many on every side of every spatial axis), or one
(lo, hi) pair or int per spatial axis. What fills the padding is the *mode*; the names are
numpy.pad's (the notes' padding kinds):

    zero       0 0 | a b c d | 0 0
    constant   v v | a b c d | v v
    reflect    c b | a b c d | c b      (mirror without repeating the edge; scipy.ndimage "mirror")
    symmetric  b a | a b c d | d c      (mirror repeating the edge; scipy.ndimage "reflect")
    edge       a a | a b c d | d d      (replicate; scipy.ndimage "nearest")
    wrap       c d | a b c d | a b      (circular)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import partial
from typing import Union

import jax
import jax.numpy as jnp
from jax import lax

Pair = tuple[int, int]
Padding = Union[str, int, Sequence[Union[int, Pair]]]
MODES = ("zero", "constant", "reflect", "symmetric", "edge", "wrap")


class BorderWarning(UserWarning):
    """A stride leaves real input pixels at the end of an axis that no window reads."""


def _as_pair(padding: int | Pair) -> Pair:
    if isinstance(padding, int):
        return padding, padding
    lo, hi = padding
    return int(lo), int(hi)


def _effective_kernel(kernel: int, dilation: int) -> int:
    return dilation * (kernel - 1) + 1


def output_size(
    n: int, kernel: int, stride: int = 1, padding: int | Pair = 0, dilation: int = 1, *, exact: bool = False
) -> int:
    """Positions a k-wide window (dilation d, stride s) takes over n inputs padded by p.

    n_out = floor((n + p_lo + p_hi − (d(k − 1) + 1)) / s) + 1. Raises ValueError when the
    dilated kernel is larger than the padded input (no window fits). When the division is not
    exact, the last (n + 2p − d(k−1) − 1) mod s rows are never read; if some of them are real
    input rather than padding, and the windows otherwise touch every row (span >= stride; a
    1×1/2 shortcut skips every other row by design), this warns (BorderWarning). `exact=True`
    raises instead (the notes' 6×6 input, 3×3 kernel, stride 2: (6 − 3)/2 + 1 = 2.5 does not
    "click").
    """
    lo, hi = _as_pair(padding)
    for name, value, least in (("n", n, 1), ("kernel", kernel, 1), ("stride", stride, 1), ("dilation", dilation, 1)):
        if value < least:
            raise ValueError(f"{name} must be >= {least}, got {value}")
    if lo < 0 or hi < 0:
        raise ValueError(f"padding must be >= 0, got ({lo}, {hi})")
    span = _effective_kernel(kernel, dilation)
    padded = n + lo + hi
    if span > padded:
        raise ValueError(
            f"kernel {kernel} (dilation {dilation}: spans {span}) is larger than the padded input "
            f"{n} + {lo} + {hi} = {padded}; use a smaller kernel or dilation, or more padding"
        )
    unused = (padded - span) % stride
    if unused:
        fraction = (padded - span) / stride + 1
        message = (
            f"({n} + {lo} + {hi} − {span})/{stride} + 1 = {fraction:g} is not an integer: the last "
            f"{unused} of the {padded} padded positions are never read"
        )
        if exact:
            raise ValueError(f"{message}; change the input size, kernel, stride or padding so it divides")
        if unused > hi and span >= stride:
            warnings.warn(f"{message}, {unused - hi} of them real input pixels", BorderWarning, stacklevel=2)
    return (padded - span) // stride + 1


def transposed_output_size(
    n: int, kernel: int, stride: int = 1, padding: int | Pair = 0, dilation: int = 1, output_padding: int = 0
) -> int:
    """Size produced by the transposed window: (n − 1)s − p_lo − p_hi + d(k − 1) + 1 + output_padding.

    Transposed padding crops the full result; `output_padding` (< stride, or < dilation)
    picks among the sizes that the forward window maps onto the same n. Raises ValueError on
    an empty result or an output_padding the forward window could not have produced.
    """
    lo, hi = _as_pair(padding)
    if n < 1 or kernel < 1 or stride < 1 or dilation < 1:
        raise ValueError(f"n, kernel, stride and dilation must be >= 1, got {n}, {kernel}, {stride}, {dilation}")
    if lo < 0 or hi < 0:
        raise ValueError(f"padding must be >= 0, got ({lo}, {hi})")
    if not 0 <= output_padding < stride:
        raise ValueError(
            f"output_padding must be in [0, stride) = [0, {stride}): the forward window maps only {stride} sizes "
            f"onto one; got {output_padding}"
        )
    size = (n - 1) * stride - lo - hi + _effective_kernel(kernel, dilation) + output_padding
    if size < 1:
        raise ValueError(
            f"transposed window gives an empty output: ({n} − 1)·{stride} − {lo} − {hi} + "
            f"{_effective_kernel(kernel, dilation)} + {output_padding} = {size}; reduce the padding"
        )
    return size


def same_padding(n: int, kernel: int, stride: int = 1, dilation: int = 1) -> Pair:
    """TensorFlow's "SAME": the output has ceil(n/s) positions, the odd padding pixel goes last."""
    out = -(-n // stride)
    total = max((out - 1) * stride + _effective_kernel(kernel, dilation) - n, 0)
    return total // 2, total - total // 2


def resolve_padding(
    padding: Padding, sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> list[Pair]:
    """Turn any padding spelling into one explicit (lo, hi) pair per spatial axis."""
    rank = len(sizes)
    if isinstance(padding, str):
        name = padding.upper()
        if name == "VALID":
            return [(0, 0)] * rank
        if name == "SAME":
            return [same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernel, stride, dilation)]
        raise ValueError(f"padding {padding!r} is not one of 'VALID', 'SAME', an int or (lo, hi) pairs per axis")
    if isinstance(padding, int):
        return [(padding, padding)] * rank
    pairs = [_as_pair(p) for p in padding]
    if len(pairs) != rank:
        raise ValueError(f"padding {padding!r} gives {len(pairs)} axes but the input has {rank} spatial axes")
    return pairs


def spatial_tuple(value: int | Sequence[int], rank: int, name: str) -> tuple[int, ...]:
    """An int or a per-axis sequence as one int per spatial axis, with an error naming `name`."""
    if isinstance(value, int):
        return (value,) * rank
    values = tuple(int(v) for v in value)
    if len(values) != rank:
        raise ValueError(f"{name} {value!r} has {len(values)} entries but the window has {rank} spatial axes")
    return values


def pad(x: jax.Array, pads: Sequence[Pair], mode: str = "zero", value: float = 0.0) -> jax.Array:
    """Pad the spatial axes of a channels-last batch (N, *spatial, C) by `pads` using `mode`."""
    if mode not in MODES:
        raise ValueError(f"padding mode {mode!r} is not one of {', '.join(MODES)}")
    if len(pads) != x.ndim - 2:
        raise ValueError(f"{len(pads)} padding pairs for an input of shape {x.shape} with {x.ndim - 2} spatial axes")
    if mode in ("reflect", "wrap", "symmetric"):
        for axis, (lo, hi) in enumerate(pads, start=1):
            limit = x.shape[axis] - (mode == "reflect")
            if max(lo, hi) > limit:
                raise ValueError(
                    f"{mode} padding of ({lo}, {hi}) on spatial axis {axis - 1} of size {x.shape[axis]} "
                    f"needs at most {limit} per side; use 'edge' or 'zero', or a smaller window"
                )
    widths = [(0, 0), *pads, (0, 0)]
    if not any(lo or hi for lo, hi in pads):
        return x
    if mode in ("zero", "constant"):
        return jnp.pad(x, widths, mode="constant", constant_values=value if mode == "constant" else 0)
    return jnp.pad(x, widths, mode=mode)


def window_sizes(
    sizes: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    pads: Sequence[Pair],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    """Output size on every spatial axis, each checked by `output_size`."""
    return tuple(output_size(n, k, s, p, d) for n, k, s, p, d in zip(sizes, kernel, stride, pads, dilation))



# Jitted so that an eager call compiles once instead of once per slice.
@partial(jax.jit, static_argnames=("kernel", "stride", "out"))
def stacked_windows(x: jax.Array, kernel: tuple[int, ...], stride: tuple[int, ...], out: tuple[int, ...]) -> jax.Array:
    """(N, *out, C, k_1, …, k_r): the elements of every window of an already padded batch, on trailing axes.

    For operations that need each window's values side by side (median, per-window scaling),
    where windows may overlap. `out` is the output size from `window_sizes`.
    """
    # One axis at a time: k_1 + … + k_r strided slices rather than k_1 ⋯ k_r.
    for axis, (k, s, o) in enumerate(zip(kernel, stride, out), start=1):
        x = jnp.stack([lax.slice_in_dim(x, j, j + (o - 1) * s + 1, s, axis) for j in range(k)], -1)
    return x
