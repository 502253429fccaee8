"""EfficientNet B0–B7 (Tan & Le 2019), as torchvision's efficientnet_b0 … efficientnet_b7.

One network, B0 (the paper's Table 1), grown by compound scaling: width coefficient w multiplies every
width, rounded as c ↦ make_divisible(c·w, 8); depth coefficient d multiplies every stage's repeats,
n ↦ ⌈n·d⌉; resolution r is the input size each variant is registered with. B0 is a 3×3/2 convolution
to 32, seven MBConv stages (expansion t, kernel k, first stride s, width c, repeats n) = (1, 3, 1, 16, 1),
(6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
(6, 3, 1, 320, 1), a 1×1 head convolution to 4 × the last width (1280 at B0), global average pooling,
dropout and a fully connected classifier. Every activation is SiLU, x·σ(x) (the paper's Swish).

              w    d    r    dropout   parameters (1000 classes)
        b0   1.0  1.0  224   0.2        5,288,548
        b1   1.0  1.1  240   0.2        7,794,184
        b2   1.1  1.2  260   0.3        9,109,994
        b3   1.2  1.4  300   0.3       12,233,232
        b4   1.4  1.8  380   0.4       19,341,616
        b5   1.6  2.2  456   0.4       30,389,784
        b6   1.8  2.6  528   0.5       43,040,704
        b7   2.0  3.1  600   0.5       66,347,960

MBConv is `InvertedResidual` with SiLU: 1×1 expansion to e = t·c (left out at t = 1), BN, SiLU; k×k
depthwise, BN, SiLU; squeeze-and-excitation with squeeze s = max(1, c // 4) of the block's INPUT width c
(SiLU inside, sigmoid gate); 1×1 projection to c', BN; the input added back when the stride is 1 and
c = c'. On that residual branch stochastic depth drops each sample's branch with probability
0.2 · b / B for the b-th block (from 0) of B in all, so from 0 to just under 0.2 (torchvision's
stochastic_depth_prob · block_id / total_blocks and Keras's drop_connect_rate · b / blocks alike).

Hand count (BN: γ and β per channel): a block on c channels with expansion e, kernel k, squeeze s,
output c' has [c·e + 2e] + k²·e + 2e + (e·s + s) + (s·e + e) + e·c' + 2c' parameters (the bracket
only when t ≠ 1; the SE convolutions have biases), the stem 27·C₀ + 2·C₀, the head c·h + 2h with
h = 4c, the classifier (h + 1)·1000. Summed over the scaled table these are the counts above,
torchvision's exact integers; Keras's EfficientNetB0 … B7 have the same trainable count.

Defaults are torchvision's: symmetric padding ⌊k/2⌋, BN ε = 1e-5 and PyTorch momentum 0.1 (our 0.9) for
b0–b4, BN ε = 1e-3 and PyTorch momentum 0.01 (our 0.99, the paper's BN momentum) for b5–b7, classifier
weights U(±1/√classes). Keras's EfficientNetBN is the same network with TensorFlow "SAME" padding
(`padding_style="tf"`: Keras's `correct_pad` zero padding before its stride-2 VALID convolutions is
"SAME"), BN ε = 1e-3 (`bn_epsilon`) and a preprocessing stem (Rescaling by 1/255, then Normalization)
in front of the stem convolution that we do not have: our input is the normalised image. Keras's head
width round_filters(1280) equals 4 · round_filters(320) for all eight coefficients.
Taps: "stem", "stage1"… ("stage{i}" is the last map at stride 2^i), "head" (the 1×1 head convolution)
and "features", the pooled vector before the classifier. Blocks are named as Keras's: "block3b" is stage
3's second block.
"""

from __future__ import annotations

import math
from functools import partial

import flax.linen as nn
import jax

from cnn.layers import Dropout, global_avg_pool
from cnn.layers.blocks import ConvBN, InvertedResidual, conv_padding, make_divisible
from cnn.models.mobilenet import tap_stage
from cnn.models.registry import register

# B0's MBConv stages (the paper's Table 1, stages 2–8): expansion t, kernel k, first stride s, width c, repeats n.
_B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
              (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))

# torchvision's classifier init U(±1/√fan_out), which is also Keras's EfficientNet Dense initializer.
_CLASSIFIER_INIT = nn.initializers.variance_scaling(1 / 3, "fan_out", "uniform")


class EfficientNet(nn.Module):
    """EfficientNet with width coefficient `width` and depth coefficient `depth` (B0: 1, 1); see the module
    docstring. `stochastic_depth` is the drop probability the blocks' rates rise towards (0.2)."""

    num_classes: int = 1000
    width: float = 1.0
    depth: float = 1.0
    dropout: float = 0.2
    stochastic_depth: float = 0.2
    padding_style: str = "torch"
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        conv_bn = partial(ConvBN, activation=nn.silu, bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum)
        block = partial(InvertedResidual, activation=nn.silu, se_activation=nn.silu, se_gate=nn.sigmoid,
                        padding_style=self.padding_style, bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum)
        repeats = [math.ceil(n * self.depth) for *_, n in _B0_STAGES]
        taps = {}
        x = taps["stem"] = conv_bn(make_divisible(32 * self.width), (3, 3), stride=2,
                                   padding=conv_padding(self.padding_style, 3), name="stem")(x, train)
        total_stride, b = 2, 0
        for i, ((t, k, s, c, _), n) in enumerate(zip(_B0_STAGES, repeats), start=1):
            for j in range(n):
                stride = s if j == 0 else 1
                if stride > 1:
                    tap_stage(taps, x, total_stride)
                    total_stride *= stride
                c_in = x.shape[-1]
                x = block(make_divisible(c * self.width), t * c_in, k, stride, se_squeeze=max(1, c_in // 4),
                          drop_rate=self.stochastic_depth * b / sum(repeats), name=f"block{i}{chr(ord('a') + j)}")(
                    x, train)
                b += 1
        tap_stage(taps, x, total_stride)
        x = taps["head"] = conv_bn(4 * x.shape[-1], (1, 1), name="head")(x, train)
        x = taps["features"] = global_avg_pool(x)
        x = Dropout(self.dropout)(x, train)
        return nn.Dense(self.num_classes, kernel_init=_CLASSIFIER_INIT, name="classifier")(x), taps


# (width, depth, resolution, dropout) of B0–B7: the paper's §3.3 coefficients as torchvision and Keras set them.
_VARIANTS = ((1.0, 1.0, 224, 0.2), (1.0, 1.1, 240, 0.2), (1.1, 1.2, 260, 0.3), (1.2, 1.4, 300, 0.3),
             (1.4, 1.8, 380, 0.4), (1.6, 2.2, 456, 0.4), (1.8, 2.6, 528, 0.5), (2.0, 3.1, 600, 0.5))
for _n, (_w, _d, _r, _p) in enumerate(_VARIANTS):
    # torchvision builds b5–b7, and only those, with TensorFlow's BN (ε = 1e-3, momentum 0.99).
    _bn = {"bn_epsilon": 1e-3, "bn_momentum": 0.99} if _n >= 5 else {}
    register(f"efficientnet_b{_n}", partial(EfficientNet, width=_w, depth=_d, dropout=_p, **_bn),
             input_shape=(_r, _r, 3), num_classes=1000,
             reference=f"Tan & Le 2019; torchvision efficientnet_b{_n}, Keras EfficientNetB{_n}")
