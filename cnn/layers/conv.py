"""Convolution over 1D, 2D and 3D inputs, transposed convolution and the locally connected layer.

Inputs are channels-last batches (N, *spatial, C): (N, W, C) sequences, (N, H, W, C) images,
(N, D, H, W, C) volumes or clips. Kernels are (*k, C_in // groups, C_out), as in flax.

Deep-learning "convolution" is cross-correlation (the notes, lecture 1: the kernel slides
unflipped). Both operations are here and named for what they compute:

    correlate:  y[n, i, o] = Σ_{j, c} x[n, s·i + d·j − p_lo, c] · w[j, c, o]
    convolve:   the same with the kernel flipped on every spatial axis, i.e. true convolution
                (x ∗ w)[i] = Σ_j x[i − j] w[j]; the two agree for symmetric kernels.

Groups split the channels into `groups` independent convolutions (AlexNet's two towers;
depthwise when groups = C_in), dilation d spaces the kernel taps (à trous) so a k-tap kernel
spans d(k − 1) + 1 inputs, and padding is any spelling and mode of `cnn.layers.padding`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype
from jax import lax

from cnn.layers import fast_paths
from cnn.layers.fast_paths import channels_last
from cnn.layers.padding import (
    Padding,
    pad,
    resolve_padding,
    spatial_tuple,
    transposed_output_size,
    window_sizes,
)

Initializer = Callable[..., jax.Array]


def _check_shapes(x: jax.Array, kernel: jax.Array, groups: int, what: str) -> int:
    rank = kernel.ndim - 2
    if rank < 1:
        raise ValueError(f"{what} kernel must be (*k, C_in // groups, C_out), got shape {kernel.shape}")
    if x.ndim != rank + 2:
        raise ValueError(
            f"{what} with a {rank}D kernel {kernel.shape} needs input (N, {rank} spatial axes, C), got shape {x.shape}"
        )
    if groups < 1 or x.shape[-1] % groups:
        raise ValueError(f"groups {groups} must divide the {x.shape[-1]} input channels")
    return rank


def _grouped_params(layer: nn.Module, x: jax.Array, transposed: bool):
    """The layer's kernel and optional bias, promoted with x; kernel_size's length sets the rank.

    Conv's kernel is (*k, C_in // groups, features); ConvTranspose holds the kernel of the
    convolution it transposes, (*k, features // groups, C_in).
    """
    if isinstance(layer.kernel_size, int):
        raise TypeError(
            f"{layer.name}: kernel_size must have one entry per spatial axis, e.g. (3,) for sequences, "
            f"(3, 3) for images or (3, 3, 3) for volumes, got {layer.kernel_size}"
        )
    if layer.groups < 1 or x.shape[-1] % layer.groups or layer.features % layer.groups:
        raise ValueError(
            f"{layer.name}: groups {layer.groups} must divide the {x.shape[-1]} input channels and the "
            f"{layer.features} features"
        )
    if transposed:
        channels = (layer.features // layer.groups, x.shape[-1])
    else:
        channels = (x.shape[-1] // layer.groups, layer.features)
    kernel = layer.param("kernel", layer.kernel_init, (*layer.kernel_size, *channels))
    bias = layer.param("bias", layer.bias_init, (layer.features,)) if layer.use_bias else None
    return promote_dtype(x, kernel, bias)


def correlate(
    x: jax.Array,
    kernel: jax.Array,
    *,
    stride: int | Sequence[int] = 1,
    padding: Padding = "VALID",
    mode: str = "zero",
    value: float = 0.0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> jax.Array:
    """Cross-correlation y[i] = Σ_j x[s·i + d·j − p_lo] · w[j] (what CNN layers call convolution).

    x is (N, *spatial, C_in), kernel (*k, C_in // groups, C_out); the result is
    (N, *out, C_out) with out = floor((n + p_lo + p_hi − d(k − 1) − 1)/s) + 1 per axis.
    """
    rank = _check_shapes(x, kernel, groups, "correlate")
    if kernel.shape[-2] * groups != x.shape[-1] or kernel.shape[-1] % groups:
        raise ValueError(
            f"kernel {kernel.shape} with groups={groups} needs input channels {kernel.shape[-2]}·{groups} = "
            f"{kernel.shape[-2] * groups} (got {x.shape[-1]}) and output channels divisible by {groups}"
        )
    ks = kernel.shape[:-2]
    strides = spatial_tuple(stride, rank, "stride")
    dilations = spatial_tuple(dilation, rank, "dilation")
    pads = resolve_padding(padding, x.shape[1:-1], ks, strides, dilations)
    out = window_sizes(x.shape[1:-1], ks, strides, pads, dilations)
    if mode != "zero":
        x, pads = pad(x, pads, mode, value), [(0, 0)] * rank
    if groups in (1, x.shape[-1]) and set(dilations) == {1} and fast_paths.enabled():
        return fast_paths.correlate(x, kernel, strides, pads, out, groups)
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=strides,
        padding=pads,
        rhs_dilation=dilations,
        dimension_numbers=channels_last(rank),
        feature_group_count=groups,
    )


def convolve(x: jax.Array, kernel: jax.Array, **kwargs) -> jax.Array:
    """True convolution (x ∗ w)[i] = Σ_j x[i − j] w[j]: `correlate` with the kernel flipped spatially.

    Takes the arguments of `correlate`. With "SAME" padding an even kernel is centred on tap
    (k − 1)//2 by `correlate` (as scipy.signal.correlate2d's "same"; scipy.ndimage.correlate uses
    k//2, one pixel later) and so on tap k//2 by `convolve`, exactly as scipy.ndimage.convolve.
    """
    spatial = tuple(range(kernel.ndim - 2))
    return correlate(x, jnp.flip(kernel, spatial), **kwargs)


def conv_transpose(
    x: jax.Array,
    kernel: jax.Array,
    *,
    stride: int | Sequence[int] = 1,
    padding: Padding = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    output_padding: int | Sequence[int] = 0,
) -> jax.Array:
    """Transposed convolution: the adjoint (gradient) of `correlate` with the same arguments.

    `kernel` is the kernel of the forward convolution it transposes, (*k, C_out // groups, C_in)
    (PyTorch's ConvTranspose weight (C_in, C_out // groups, *k) moved channels-last). Each
    input pixel is spread over a k-window of the output, windows s apart: equivalently, s − 1
    zeros are inserted between input pixels (the notes, lecture 3) and the result is correlated
    with the flipped kernel. Output size per axis: (n − 1)s − p_lo − p_hi + d(k − 1) + 1 +
    output_padding; "SAME" gives n·s and "VALID" means no padding. Here padding crops the full
    result rather than extending the input, so it takes no mode; this is the adjoint of the
    zero-padded convolution (for other modes, take jax.vjp of `correlate`).
    """
    rank = _check_shapes(x, kernel, groups, "conv_transpose")
    if kernel.shape[-1] != x.shape[-1]:
        raise ValueError(
            f"conv_transpose kernel {kernel.shape} is (*k, C_out // groups, C_in) and needs C_in = "
            f"{kernel.shape[-1]} input channels, got {x.shape[-1]}"
        )
    ks = kernel.shape[:-2]
    sizes = x.shape[1:-1]
    strides = spatial_tuple(stride, rank, "stride")
    dilations = spatial_tuple(dilation, rank, "dilation")
    extra = spatial_tuple(output_padding, rank, "output_padding")
    if isinstance(padding, str) and padding.upper() == "SAME":
        targets = [n * s for n, s in zip(sizes, strides)]
        pads = resolve_padding("SAME", targets, ks, strides, dilations)
        extra = tuple(
            t - transposed_output_size(n, k, s, p, d)
            for t, n, k, s, p, d in zip(targets, sizes, ks, strides, pads, dilations)
        )
    else:
        pads = resolve_padding(padding, sizes, ks, strides, dilations)
    for n, k, s, p, d, e in zip(sizes, ks, strides, pads, dilations, extra):
        transposed_output_size(n, k, s, p, d, e)
    c_in = x.shape[-1] // groups
    flipped = jnp.flip(kernel, tuple(range(rank)))
    # Per group, the forward kernel maps C_out/g → C_in/g; its transpose maps C_in/g → C_out/g.
    grouped = flipped.reshape(*ks, kernel.shape[-2], groups, c_in)
    swapped = jnp.swapaxes(grouped, -3, -1).reshape(*ks, c_in, groups * kernel.shape[-2])
    full = [d * (k - 1) for k, d in zip(ks, dilations)]
    return lax.conv_general_dilated(
        x,
        swapped,
        window_strides=(1,) * rank,
        padding=[(f - lo, f - hi + e) for f, (lo, hi), e in zip(full, pads, extra)],
        lhs_dilation=strides,
        rhs_dilation=dilations,
        dimension_numbers=channels_last(rank),
        feature_group_count=groups,
    )


def locally_connected(
    x: jax.Array,
    kernel: jax.Array,
    *,
    stride: int | Sequence[int] = 1,
    padding: Padding = "VALID",
    mode: str = "zero",
    value: float = 0.0,
    dilation: int | Sequence[int] = 1,
) -> jax.Array:
    """2D layer with a separate kernel at every output position (no weight sharing; DeepFace).

    y[n, i, j, o] = Σ_{a, b, c} x[n, s·i + d·a − p, s·j + d·b − p, c] · w[i, j, a, b, c, o], with
    x (N, H, W, C_in) and kernel (H_out, W_out, k_h, k_w, C_in, C_out): the right layer when the
    images are registered so each pixel has a fixed meaning (aligned faces).
    """
    if x.ndim != 4 or kernel.ndim != 6:
        raise ValueError(
            f"locally_connected needs input (N, H, W, C) and kernel (H_out, W_out, k_h, k_w, C_in, C_out), "
            f"got {x.shape} and {kernel.shape}"
        )
    ks = kernel.shape[2:4]
    strides = spatial_tuple(stride, 2, "stride")
    dilations = spatial_tuple(dilation, 2, "dilation")
    pads = resolve_padding(padding, x.shape[1:3], ks, strides, dilations)
    out = window_sizes(x.shape[1:3], ks, strides, pads, dilations)
    if tuple(kernel.shape[:2]) != out or kernel.shape[4] != x.shape[-1]:
        raise ValueError(
            f"locally_connected kernel {kernel.shape} does not fit input {x.shape}: expected "
            f"({out[0]}, {out[1]}, {ks[0]}, {ks[1]}, {x.shape[-1]}, C_out)"
        )
    x = pad(x, pads, mode, value)
    patches = lax.conv_general_dilated_patches(
        x, ks, strides, "VALID", rhs_dilation=dilations, dimension_numbers=("NHWC", "OIHW", "NHWC")
    )
    # The patch features come out channel-major: (C_in, k_h, k_w).
    patches = patches.reshape(*patches.shape[:3], x.shape[-1], *ks)
    return jnp.einsum("nhwcab,hwabco->nhwo", patches, kernel)


class Conv(nn.Module):
    """Convolution layer (cross-correlation, as in every framework) over len(kernel_size) spatial axes.

    Parameters: `kernel` (*k, C_in // groups, features) and, with `use_bias`, `bias` (features,):
    features · (k_1 ⋯ k_r · C_in / groups + 1) in all (the notes: 5 filters 7×7×3 = 735 weights).
    """

    features: int
    kernel_size: Sequence[int]
    stride: int | Sequence[int] = 1
    padding: Padding = "VALID"
    padding_mode: str = "zero"
    padding_value: float = 0.0
    dilation: int | Sequence[int] = 1
    groups: int = 1
    use_bias: bool = True
    kernel_init: Initializer = nn.initializers.lecun_normal()
    bias_init: Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x, kernel, bias = _grouped_params(self, x, transposed=False)
        y = correlate(
            x,
            kernel,
            stride=self.stride,
            padding=self.padding,
            mode=self.padding_mode,
            value=self.padding_value,
            dilation=self.dilation,
            groups=self.groups,
        )
        return y if bias is None else y + bias


class ConvTranspose(nn.Module):
    """Transposed convolution layer (`conv_transpose`); `kernel` is (*k, features // groups, C_in)."""

    features: int
    kernel_size: Sequence[int]
    stride: int | Sequence[int] = 1
    padding: Padding = 0
    dilation: int | Sequence[int] = 1
    groups: int = 1
    output_padding: int | Sequence[int] = 0
    use_bias: bool = True
    kernel_init: Initializer = nn.initializers.lecun_normal()
    bias_init: Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x, kernel, bias = _grouped_params(self, x, transposed=True)
        y = conv_transpose(
            x,
            kernel,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            output_padding=self.output_padding,
        )
        return y if bias is None else y + bias


class LocallyConnected2D(nn.Module):
    """Locally connected layer (`locally_connected`): unshared k×k×C_in→features weights per position.

    Parameters: `kernel` (H_out, W_out, k_h, k_w, C_in, features), i.e. out positions × kernel ×
    in × out weights, and with `use_bias` one bias per position and feature (H_out, W_out, features).
    """

    features: int
    kernel_size: Sequence[int]
    stride: int | Sequence[int] = 1
    padding: Padding = "VALID"
    padding_mode: str = "zero"
    padding_value: float = 0.0
    dilation: int | Sequence[int] = 1
    use_bias: bool = True
    kernel_init: Initializer = nn.initializers.variance_scaling(
        1.0, "fan_in", "truncated_normal", in_axis=(-4, -3, -2), out_axis=-1, batch_axis=(0, 1)
    )
    bias_init: Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"{self.name}: LocallyConnected2D needs (N, H, W, C) input, got shape {x.shape}")
        ks = spatial_tuple(self.kernel_size, 2, "kernel_size")
        strides = spatial_tuple(self.stride, 2, "stride")
        dilations = spatial_tuple(self.dilation, 2, "dilation")
        pads = resolve_padding(self.padding, x.shape[1:3], ks, strides, dilations)
        out = window_sizes(x.shape[1:3], ks, strides, pads, dilations)
        kernel = self.param("kernel", self.kernel_init, (*out, *ks, x.shape[-1], self.features))
        bias = self.param("bias", self.bias_init, (*out, self.features)) if self.use_bias else None
        x, kernel, bias = promote_dtype(x, kernel, bias)
        y = locally_connected(
            x, kernel, stride=strides, padding=pads, mode=self.padding_mode, value=self.padding_value, dilation=dilations
        )
        return y if bias is None else y + bias
