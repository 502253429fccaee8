"""Units shared by several architectures of the zoo: convolution → batch norm → activation, and
squeeze-and-excitation.

Blocks used by one family only (a DenseNet layer, a Fire module, an Inception module) live in
that family's file in `cnn.models`; they move here when a second family needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax

from cnn.layers.conv import Conv
from cnn.layers.norm import BatchNorm
from cnn.layers.padding import Padding
from cnn.layers.pooling import global_avg_pool

Activation = Callable[[jax.Array], jax.Array]


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
    activation: Activation | None = nn.relu
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
    activation: Activation = nn.relu
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
