"""Squeeze-and-excitation networks (Hu et al. 2018, "Squeeze-and-Excitation Networks", Table 1).

An SE network is a ResNet or ResNeXt (`cnn.models.resnet`) whose every bottleneck rescales its residual
branch, after the branch's last BN and before the sum with the shortcut, by a squeeze-and-excitation gate
(`cnn.layers.SqueezeExcite`): y = relu(shortcut(x) + u · σ(W₂ relu(W₁ GAP(u) + b₁) + b₂)), u = BN(conv(…)),
W₁: C → C/r, W₂: C/r → C as 1×1 convolutions with bias, reduction r = 16.

Parameters at 1000 classes: the ResNet's (torchvision's exact counts) plus, per block of C output channels,
the gate's 2·C·(C/16) + C/16 + C. Over the bottleneck stages (C = 256, 512, 1024, 2048) one block adds
8,464, 33,312, 132,160 and 526,464:

    se_resnet50         25,557,032 + 3·8,464 + 4·33,312 +  6·132,160 + 3·526,464 = 28,088,024  (Table 2: 28.1M)
    se_resnet101        44,549,160 + 3·8,464 + 4·33,312 + 23·132,160 + 3·526,464 = 49,326,872  (Table 2: 49.3M)
    se_resnext50_32x4d  25,028,904 + 2,530,992                                    = 27,559,896  (Table 2: 27.6M)

Differences from the paper. Like the zoo's other ResNets these are "v1.5" nets (torchvision): the stride sits
in the 3×3 convolution. The paper's Caffe SE-ResNets (and Cadene's PyTorch ports of them) put it in the first
1×1; `stride_in_1x1=True` builds those, whose MACs are the paper's 3.87 G (SE-ResNet-50) and 7.60 G
(SE-ResNet-101) within 0.5% (v1.5 costs 4.09 G and 7.81 G, as torchvision's resnet50 against the paper's
ResNet-50). SE-ResNeXt follows ResNeXt's code, stride in the 3×3, so the default is the paper's net and its
4.23 G MACs its 4.25 G. The released SENet-154 and the ports' deep 3×3 stems are not modelled.
Pre-activation SE nets are refused: their branch ends in a convolution, not the BN the gate follows.
"""

from __future__ import annotations

from functools import partial

import jax

from cnn.layers.blocks import SqueezeExcite
from cnn.models.registry import register
from cnn.models.resnet import Bottleneck, ResNet


class SEBottleneck(Bottleneck):
    """A ResNet bottleneck whose branch, after its last BN, is gated by SqueezeExcite(features // reduction)."""

    reduction: int = 16

    def convs(self) -> list[tuple[int, int, int, int]]:
        if self.preact:
            raise ValueError(f"{self.name}: the SE gate follows the branch's last BN, which a pre-activation "
                             "block does not have")
        return super().convs()

    def _residual(self, y: jax.Array) -> jax.Array:
        return SqueezeExcite(self.features // self.reduction, name="se")(y)


def _register(name: str, sizes: tuple[int, ...], reference: str, **fields) -> None:
    register(name, partial(ResNet, block=SEBottleneck, stage_sizes=sizes, **fields), input_shape=(224, 224, 3),
             num_classes=1000, reference=reference)


_register("se_resnet50", (3, 4, 6, 3), "Hu et al. 2018, SE-ResNet-50 (torchvision-style v1.5)")
_register("se_resnet101", (3, 4, 23, 3), "Hu et al. 2018, SE-ResNet-101 (torchvision-style v1.5)")
_register("se_resnext50_32x4d", (3, 4, 6, 3), "Hu et al. 2018, SE-ResNeXt-50 (32×4d, torchvision-style v1.5)",
          groups=32, base_width=4)
