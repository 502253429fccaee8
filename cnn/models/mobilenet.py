"""MobileNets: v1 (Howard et al. 2017), v2 (Sandler et al. 2018, as torchvision's mobilenet_v2) and v3
(Howard et al. 2019, as torchvision's mobilenet_v3_large and mobilenet_v3_small).

v1 factorises each 3×3 convolution into a depthwise 3×3 (groups = C, 9C weights) and a pointwise 1×1, both
followed by BN and ReLU: conv 3×3/2 (32), 13 such blocks (64, 128/2, 128, 256/2, 256, 512/2, 5 × 512,
1024/2, 1024), global average, FC. The width multiplier α scales every width to ⌊α·C⌋. With c the input
width, a block to c' maps has 9c + 2c + c·c' + 2c' parameters; stem 27·32 + 2·32, FC 1025 · 1000: in all
4,231,976 at α = 1 (the paper's 4.2M; Keras's trainable count), 2,585,560 at 0.75 (2.6M), 1,331,592 at
0.5 (1.3M), 470,072 at 0.25 (0.5M), 1000 classes. Keras's MobileNet is the same network with ReLU6
(`activation=relu6`), TensorFlow "SAME" padding (`padding_style="tf"`; Keras pads stride-2 depthwise inputs
by (0, 1), which is "SAME" on even sizes, i.e. at every input size divisible by 32), BN ε = 1e-3
(`bn_epsilon`) and dropout 1e-3 before a 1×1 convolution classifier (the same map as our FC).

v2's inverted residual (`InvertedResidual`) expands C → tC by a 1×1 (BN, ReLU6), filters depthwise 3×3
(BN, ReLU6) and projects linearly to C' (1×1, BN, no activation), adding the input when stride is 1 and
C = C'. Widths are make_divisible(α·C, 8); stem 3×3/2 (32), 17 blocks (t, c, n, s) = (1, 16, 1, 1),
(6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1), head 1×1 to
1280, global average, dropout 0.2, FC. Keras's MobileNetV2 differs in BN ε = 1e-3 and "SAME" padding
(its `correct_pad` zero padding plus a VALID convolution is "SAME"), and has no dropout.

v3 keeps the block and adds squeeze-and-excitation (hard-sigmoid gate, squeeze make_divisible(C_exp // 4,
8)), hard-swish h(x) = x · ReLU6(x + 3)/6 in the later blocks, 5×5 depthwise kernels and a head 1×1 conv
(6 × the last width: 960 / 576)-global average-FC (1280 / 1024)-hard-swish-dropout 0.2-FC, with BN ε = 1e-3
(torchvision and Keras alike). The paper's Table 2 marks SE on the small model's 576-wide head conv;
torchvision and Keras have none there, nor do we.

Parameters of a block on c channels expanding to e (skipped when e = c), kernel k, SE squeeze s, output c':
[c·e + 2e] + k²·e + 2e + [e·s + s + s·e + e] + e·c' + 2c' (BN: γ and β). v2: stem 27·32 + 2·32, head
320·1280 + 2·1280, FC 1281·1000, in all 3,504,872; v3 on its tables (stem 27·16 + 2·16, head c·6c + 2·6c,
FCs (6c + 1)·h + (h + 1)·1000): large 5,483,032, small 2,542,856; torchvision's counts, at 1000 classes.
Keras's MobileNetV3Large/Small at α = 1 are the same networks with "SAME" padding; Keras's head layers are
1×1 convolutions with bias on the pooled 1×1 map, the same maps as our FCs.

Defaults are torchvision's (symmetric padding ⌊k/2⌋, BN ε = 1e-5 for v1 and v2, the PyTorch momentum 0.1
as our 0.9, or v3's 0.01 as 0.99); v1, absent from torchvision, follows the paper (ReLU, no dropout).
Taps: "stem", "stage1"… ("stage{i}" is the last map at stride 2^i), "head" (v2, v3: the last 1×1 conv) and
"features", the pooled vector before the classifier.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import flax.linen as nn
import jax

from cnn.layers import Dropout, global_avg_pool, relu
from cnn.layers.blocks import ConvBN, InvertedResidual, conv_padding, make_divisible
from cnn.models.registry import register

Activation = Callable[[jax.Array], jax.Array]

_CLASSIFIER_INIT = nn.initializers.normal(0.01)  # torchvision's init for the MobileNets' FC layers


def tap_stage(taps: dict[str, jax.Array], x: jax.Array, stride: int) -> None:
    """taps["stage{i}"] = x for the map x at total stride `stride` = 2^i (MobileNets', EfficientNet's taps)."""
    taps[f"stage{stride.bit_length() - 1}"] = x


class DepthwiseSeparable(nn.Module):
    """MobileNet v1's block: depthwise 3×3 (stride) + BN + act, pointwise 1×1 to `features` + BN + act."""

    features: int
    stride: int = 1
    activation: Activation = relu
    padding_style: str = "torch"
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv_bn = partial(ConvBN, activation=self.activation, bn_epsilon=self.bn_epsilon,
                          bn_momentum=self.bn_momentum)
        channels = x.shape[-1]
        x = conv_bn(channels, (3, 3), stride=self.stride, padding=conv_padding(self.padding_style, 3),
                    groups=channels, name="depthwise")(x, train)
        return conv_bn(self.features, (1, 1), name="pointwise")(x, train)


# (output width, stride) of v1's 13 depthwise separable blocks.
_V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *((512, 1),) * 5, (1024, 2), (1024, 1))


class MobileNetV1(nn.Module):
    """MobileNet v1 with width multiplier `alpha`; see the module docstring for the Keras fields."""

    num_classes: int = 1000
    alpha: float = 1.0
    activation: Activation = relu
    padding_style: str = "torch"
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        taps = {}
        x = taps["stem"] = ConvBN(int(32 * self.alpha), (3, 3), stride=2, padding=conv_padding(self.padding_style, 3),
                                  activation=self.activation, bn_epsilon=self.bn_epsilon,
                                  bn_momentum=self.bn_momentum, name="stem")(x, train)
        total_stride = 2
        for i, (width, stride) in enumerate(_V1_BLOCKS, start=1):
            if stride > 1:
                tap_stage(taps, x, total_stride)
                total_stride *= stride
            x = DepthwiseSeparable(int(width * self.alpha), stride, self.activation, self.padding_style,
                                   self.bn_epsilon, self.bn_momentum, name=f"block{i}")(x, train)
        tap_stage(taps, x, total_stride)
        x = taps["features"] = global_avg_pool(x)
        x = Dropout(self.dropout)(x, train)
        return nn.Dense(self.num_classes, kernel_init=_CLASSIFIER_INIT, name="classifier")(x), taps


# (expansion t, width c, repeats n, first stride s) of v2's seven bottleneck stages.
_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
              (6, 320, 1, 1))


class MobileNetV2(nn.Module):
    """MobileNetV2 as torchvision's, width multiplier `alpha`; see the module docstring."""

    num_classes: int = 1000
    alpha: float = 1.0
    dropout: float = 0.2
    padding_style: str = "torch"
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        conv_bn = partial(ConvBN, activation=jax.nn.relu6, bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum)
        block = partial(InvertedResidual, padding_style=self.padding_style, bn_epsilon=self.bn_epsilon,
                        bn_momentum=self.bn_momentum)
        taps = {}
        x = taps["stem"] = conv_bn(make_divisible(32 * self.alpha), (3, 3), stride=2,
                                   padding=conv_padding(self.padding_style, 3), name="stem")(x, train)
        total_stride, i = 2, 0
        for t, c, n, s in _V2_STAGES:
            width = make_divisible(c * self.alpha)
            for j in range(n):
                stride = s if j == 0 else 1
                if stride > 1:
                    tap_stage(taps, x, total_stride)
                    total_stride *= stride
                i += 1
                x = block(width, round(x.shape[-1] * t), stride=stride, name=f"block{i}")(x, train)
        tap_stage(taps, x, total_stride)
        x = taps["head"] = conv_bn(make_divisible(1280 * max(1.0, self.alpha)), (1, 1), name="head")(x, train)
        x = taps["features"] = global_avg_pool(x)
        x = Dropout(self.dropout)(x, train)
        return nn.Dense(self.num_classes, kernel_init=_CLASSIFIER_INIT, name="classifier")(x), taps


_RE, _HS = relu, jax.nn.hard_swish
# (kernel, expanded width, output width, squeeze-and-excite, activation, stride) per block (the paper's
# Tables 1 and 2, torchvision's inverted_residual_setting).
_V3_LARGE = (
    (3, 16, 16, False, _RE, 1), (3, 64, 24, False, _RE, 2), (3, 72, 24, False, _RE, 1),
    (5, 72, 40, True, _RE, 2), (5, 120, 40, True, _RE, 1), (5, 120, 40, True, _RE, 1),
    (3, 240, 80, False, _HS, 2), (3, 200, 80, False, _HS, 1), (3, 184, 80, False, _HS, 1),
    (3, 184, 80, False, _HS, 1), (3, 480, 112, True, _HS, 1), (3, 672, 112, True, _HS, 1),
    (5, 672, 160, True, _HS, 2), (5, 960, 160, True, _HS, 1), (5, 960, 160, True, _HS, 1),
)
_V3_SMALL = (
    (3, 16, 16, True, _RE, 2), (3, 72, 24, False, _RE, 2), (3, 88, 24, False, _RE, 1),
    (5, 96, 40, True, _HS, 2), (5, 240, 40, True, _HS, 1), (5, 240, 40, True, _HS, 1),
    (5, 120, 48, True, _HS, 1), (5, 144, 48, True, _HS, 1), (5, 288, 96, True, _HS, 2),
    (5, 576, 96, True, _HS, 1), (5, 576, 96, True, _HS, 1),
)


class MobileNetV3(nn.Module):
    """MobileNetV3 as torchvision's: `blocks` rows as _V3_LARGE, `last_channel` the hidden FC width."""

    num_classes: int = 1000
    blocks: Sequence[tuple] = _V3_LARGE
    last_channel: int = 1280
    alpha: float = 1.0
    dropout: float = 0.2
    padding_style: str = "torch"
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.99

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        conv_bn = partial(ConvBN, activation=_HS, bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum)
        taps = {}
        x = taps["stem"] = conv_bn(make_divisible(16 * self.alpha), (3, 3), stride=2,
                                   padding=conv_padding(self.padding_style, 3), name="stem")(x, train)
        total_stride = 2
        for i, (kernel, expanded, width, se, activation, stride) in enumerate(self.blocks, start=1):
            if stride > 1:
                tap_stage(taps, x, total_stride)
                total_stride *= stride
            expanded = make_divisible(expanded * self.alpha)
            x = InvertedResidual(make_divisible(width * self.alpha), expanded, kernel, stride, activation,
                                 se_squeeze=make_divisible(expanded // 4) if se else 0,
                                 padding_style=self.padding_style, bn_epsilon=self.bn_epsilon,
                                 bn_momentum=self.bn_momentum, name=f"block{i}")(x, train)
        tap_stage(taps, x, total_stride)
        x = taps["head"] = conv_bn(6 * x.shape[-1], (1, 1), name="head")(x, train)
        x = taps["features"] = global_avg_pool(x)
        x = _HS(nn.Dense(make_divisible(self.last_channel * self.alpha), kernel_init=_CLASSIFIER_INIT,
                         name="hidden")(x))
        x = Dropout(self.dropout)(x, train)
        return nn.Dense(self.num_classes, kernel_init=_CLASSIFIER_INIT, name="classifier")(x), taps


_IMAGENET = {"input_shape": (224, 224, 3), "num_classes": 1000}
register("mobilenet_v1", MobileNetV1, **_IMAGENET, reference="Howard et al. 2017, α = 1; Keras MobileNet")
for _alpha, _suffix in ((0.75, "0_75"), (0.5, "0_5"), (0.25, "0_25")):
    register(f"mobilenet_v1_{_suffix}", partial(MobileNetV1, alpha=_alpha), **_IMAGENET,
             reference=f"Howard et al. 2017, α = {_alpha}; Keras MobileNet(alpha={_alpha})")
register("mobilenet_v2", MobileNetV2, **_IMAGENET,
         reference="Sandler et al. 2018; torchvision mobilenet_v2, Keras MobileNetV2")
register("mobilenet_v3_large", partial(MobileNetV3, blocks=_V3_LARGE, last_channel=1280), **_IMAGENET,
         reference="Howard et al. 2019; torchvision mobilenet_v3_large, Keras MobileNetV3Large")
register("mobilenet_v3_small", partial(MobileNetV3, blocks=_V3_SMALL, last_channel=1024), **_IMAGENET,
         reference="Howard et al. 2019; torchvision mobilenet_v3_small, Keras MobileNetV3Small")
