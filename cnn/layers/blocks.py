"""Units shared by several architectures of the zoo: convolution → batch norm → activation,
squeeze-and-excitation, and the inverted residual (MobileNetV2/V3, EfficientNet's MBConv), with the
width rounding and padding conventions those families share.

Blocks used by one family only (a DenseNet layer, a Fire module, an Inception module) live in
that family's file in `cnn.models`; they move here when a second family needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import flax.linen as nn
import jax

from cnn.layers.activations import relu
from cnn.layers.conv import Conv
from cnn.layers.norm import BatchNorm, StochasticDepth
from cnn.layers.padding import Padding
from cnn.layers.pooling import global_avg_pool

Activation = Callable[[jax.Array], jax.Array]


def make_divisible(value: float, divisor: int = 8) -> int:
    """`value` rounded to the nearest multiple of `divisor` (at least `divisor`), moved up one multiple if
    rounding lost more than 10% (the MobileNet v2/v3 reference code's `_make_divisible`)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_padding(style: str, kernel_size: int) -> Padding:
    """"torch": ⌊k/2⌋ on every side (PyTorch); "tf": TensorFlow's "SAME" (at stride 2 on an even size the
    odd pixel of padding goes at the end, so the windows are shifted against the torch style's)."""
    if style == "torch":
        return kernel_size // 2
    if style == "tf":
        return "SAME"
    raise ValueError(f"padding_style must be 'torch' or 'tf', got {style!r}")


def _identity(x: jax.Array) -> jax.Array:
    return x


class ConvBN(nn.Module):
    """y = act(BN(conv(x))), the unit of every post-2015 CNN; the convolution has no bias (BN's β is it).

    Submodules are named "conv" and "bn" so imported weights map one-to-one (torchvision's
    Conv2dNormActivation, Keras's Conv2D + BatchNormalization). `activation=None` leaves the
    output linear (a residual branch's last unit, MobileNetV2's projection). `bn_scale_init`
    zeros lets a residual branch start as the identity (Goyal et al. 2017).
    """

    features: int
    kernel_size: Sequence[int]
    stride: int | Sequence[int] = 1
    padding: Padding = "VALID"
    dilation: int | Sequence[int] = 1
    groups: int = 1
    activation: Activation | None = relu
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    bn_scale_init: Callable = nn.initializers.ones_init()
    kernel_init: Callable = nn.initializers.variance_scaling(2.0, "fan_out", "normal")

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = Conv(self.features, self.kernel_size, stride=self.stride, padding=self.padding,
                 dilation=self.dilation, groups=self.groups, use_bias=False,
                 kernel_init=self.kernel_init, name="conv")(x)
        x = BatchNorm(momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                      scale_init=self.bn_scale_init, name="bn")(x, train)
        return (self.activation or _identity)(x)


class SqueezeExcite(nn.Module):
    """Channel attention (Hu et al. 2018): x · gate(W₂ act(W₁ GAP(x) + b₁) + b₂).

    W₁ maps C → `squeeze` channels and W₂ back to C, as 1×1 convolutions with bias ("reduce" and
    "expand"), so SENet's r = 16 is squeeze = C // 16, and MBConv's 0.25 of the block's input
    width is squeeze = max(1, C_in // 4). `gate` is the sigmoid (SENet, EfficientNet) or the hard
    sigmoid (MobileNetV3).
    """

    squeeze: int
    activation: Activation = relu
    gate: Activation = nn.sigmoid

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.squeeze < 1:
            raise ValueError(f"{self.name}: squeeze must be at least 1 channel, got {self.squeeze}")
        rank = x.ndim - 2
        s = global_avg_pool(x, keepdims=True)
        s = self.activation(Conv(self.squeeze, (1,) * rank, name="reduce")(s))
        s = self.gate(Conv(x.shape[-1], (1,) * rank, name="expand")(s))
        return x * s


class InvertedResidual(nn.Module):
    """MobileNetV2/V3 block (EfficientNet's MBConv): x + BN(W_p · SE(act(BN(DW(act(BN(W_e · x))))))).

    The 1×1 expansion to `expanded` channels is left out when it would not change the width (t = 1);
    squeeze-and-excitation runs when `se_squeeze` > 0; the residual is added when the stride is 1 and the
    block keeps its width, its branch then dropped per sample with probability `drop_rate` in training
    (stochastic depth, EfficientNet's; 0 for the MobileNets). Submodules: "expand", "depthwise", "se",
    "project".
    """

    features: int
    expanded: int
    kernel_size: int = 3
    stride: int = 1
    activation: Activation = jax.nn.relu6
    se_squeeze: int = 0
    se_activation: Activation = relu
    se_gate: Activation = jax.nn.hard_sigmoid
    padding_style: str = "torch"
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9
    drop_rate: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv_bn = partial(ConvBN, activation=self.activation, bn_epsilon=self.bn_epsilon,
                          bn_momentum=self.bn_momentum)
        y = x
        if self.expanded != x.shape[-1]:
            y = conv_bn(self.expanded, (1, 1), name="expand")(y, train)
        k = self.kernel_size
        y = conv_bn(self.expanded, (k, k), stride=self.stride, padding=conv_padding(self.padding_style, k),
                    groups=self.expanded, name="depthwise")(y, train)
        if self.se_squeeze:
            y = SqueezeExcite(self.se_squeeze, self.se_activation, self.se_gate, name="se")(y)
        y = conv_bn(self.features, (1, 1), activation=None, name="project")(y, train)
        if self.stride != 1 or x.shape[-1] != self.features:
            return y
        return x + StochasticDepth(self.drop_rate, name="drop")(y, train)
