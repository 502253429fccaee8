"""VGG (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition").

Five blocks of stride-1 convolutions, each block closed by a 2×2/2 max pool, 64, 128, 256, 512, 512
channels; then three fully connected layers. Table 1's configurations, as the kernel sizes of each
block's convolutions (3×3 with padding 1, 1×1 without):

    A  (vgg11)     1, 1, 2, 2, 2 convolutions 3×3
    A-LRN          A with local response normalisation after the first convolution (AlexNet's LRN)
    B  (vgg13)     2, 2, 2, 2, 2
    C  (vgg16_c)   B plus a 1×1 convolution closing blocks 3, 4 and 5
    D  (vgg16)     2, 2, 3, 3, 3
    E  (vgg19)     2, 2, 4, 4, 4

The classifier is torchvision's: the last map is average-pooled adaptively to 7×7 (PyTorch's
AdaptiveAvgPool2d bins; the identity for 224×224 input, whose last map is 7×7; any input of at least
32×32 works, a 1×1 map being repeated 7×7), flattened to 25,088 values, then fc6 4096 → ReLU → Dropout(0.5)
→ fc7 4096 → ReLU → Dropout(0.5) → fc8 num_classes. The `_bn` variants are torchvision's
conv (with bias) → BatchNorm → ReLU.

Parameters (1000 classes) are Σ (k²·C_in + 1)·C_out over the convolutions (+ 2·C_out per BN γ, β) plus
the classifier (25,088 + 1)·4096 + (4096 + 1)·4096 + (4096 + 1)·1000 = 123,642,856; the convolutions
hold 9,220,480 (A), 9,404,992 (B), 9,996,096 (C), 14,714,688 (D), 20,024,384 (E). So A and A-LRN have
132,863,336, B 133,047,848, C 133,638,952, D 138,357,544 and E 143,667,240 parameters (Table 2: 133M,
133M, 133M, 134M, 138M, 144M), the first four those of torchvision's vgg11, vgg13, vgg16, vgg19;
BN adds 2·Σ C_out: 5,504 (vgg11_bn 132,868,840), 5,888 (vgg13_bn 133,053,736), 8,448 (vgg16_bn
138,365,992), 11,008 (vgg19_bn 143,678,248).

Flattening order: the map is NHWC, so fc6 sees the 7×7×512 values spatial-major (h, w, c) where
torchvision's NCHW flatten is channel-major (c, h, w). Keras flattens NHWC as we do, so its weights
load unchanged; a torchvision fc6 weight (4096, 25088) must have its columns permuted,
w.reshape(4096, 512, 7, 7).transpose(0, 2, 3, 1).reshape(4096, 25088).T, before it is our kernel.

Initialisation is torchvision's: convolution kernels He-normal over fan_out, linear weights N(0, 0.01²),
biases zero. The paper itself trained A from N(0, 0.01²) and initialised deeper nets from it (§3.1).
`hidden` narrows fc6 and fc7, so the tests can run a full convolutional stack with a small classifier;
`activation` replaces every ReLU (the notes' ReLU-against-tanh study on a deep plain net).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import flax.linen as nn
import jax

from cnn.layers import BatchNorm, Conv, Dropout, LocalResponseNorm, adaptive_avg_pool, max_pool, relu
from cnn.models.registry import register

# Table 1: the kernel size of every convolution, block by block.
CONFIGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "A": ((3,), (3,), (3, 3), (3, 3), (3, 3)),
    "B": ((3, 3), (3, 3), (3, 3), (3, 3), (3, 3)),
    "C": ((3, 3), (3, 3), (3, 3, 1), (3, 3, 1), (3, 3, 1)),
    "D": ((3, 3), (3, 3), (3, 3, 3), (3, 3, 3), (3, 3, 3)),
    "E": ((3, 3), (3, 3), (3, 3, 3, 3), (3, 3, 3, 3), (3, 3, 3, 3)),
}


class VGG(nn.Module):
    """VGG with `kernels[b]` listing block b's convolution kernel sizes (`CONFIGS`), `widths[b]` its channels.

    Taps: "stage1".."stage5" (each block's pooled output), "fc6", and "features" (fc7 after its ReLU,
    the input of the last layer, the usual "VGG features").
    """

    num_classes: int = 1000
    kernels: Sequence[Sequence[int]] = CONFIGS["D"]
    widths: Sequence[int] = (64, 128, 256, 512, 512)
    batch_norm: bool = False
    lrn: bool = False  # A-LRN: AlexNet's LRN after the first convolution's ReLU
    pool_size: int = 7  # the classifier's input grid, as torchvision's AdaptiveAvgPool2d((7, 7))
    hidden: int = 4096
    dropout: float = 0.5
    activation: Callable[[jax.Array], jax.Array] = relu
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        if len(self.kernels) != len(self.widths):
            raise ValueError(f"VGG has {len(self.kernels)} blocks of kernels but {len(self.widths)} widths")
        least = 2 ** len(self.widths)
        if min(x.shape[1:3]) < least:
            raise ValueError(
                f"VGG's {len(self.widths)} 2×2 max pools need inputs of at least {least}×{least}, got "
                f"{x.shape[1]}×{x.shape[2]}; upsample the images (224×224 is the paper's size)"
            )
        conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
        taps = {}
        for b, (kernels, width) in enumerate(zip(self.kernels, self.widths), start=1):
            for i, k in enumerate(kernels, start=1):
                x = Conv(width, (k, k), padding=k // 2, kernel_init=conv_init, name=f"conv{b}_{i}")(x)
                if self.batch_norm:
                    x = BatchNorm(momentum=self.bn_momentum, epsilon=self.bn_epsilon, name=f"bn{b}_{i}")(x, train)
                x = self.activation(x)
                if self.lrn and b == i == 1:
                    x = LocalResponseNorm()(x)
            x = taps[f"stage{b}"] = max_pool(x, 2)
        x = adaptive_avg_pool(x, (self.pool_size, self.pool_size))
        x = x.reshape(x.shape[0], -1)
        dense = partial(nn.Dense, kernel_init=nn.initializers.normal(0.01))
        x = taps["fc6"] = self.activation(dense(self.hidden, name="fc6")(x))
        x = Dropout(self.dropout)(x, train)
        x = taps["features"] = self.activation(dense(self.hidden, name="fc7")(x))
        x = Dropout(self.dropout)(x, train)
        return dense(self.num_classes, name="fc8")(x), taps


def _register(name: str, config: str, reference: str, **fields) -> None:
    register(name, partial(VGG, kernels=CONFIGS[config], **fields), input_shape=(224, 224, 3), num_classes=1000,
             reference=f"Simonyan & Zisserman 2015, {reference}")


_register("vgg11", "A", "config A; torchvision vgg11")
_register("vgg_a_lrn", "A", "config A-LRN", lrn=True)
_register("vgg13", "B", "config B; torchvision vgg13")
_register("vgg16_c", "C", "config C (1×1 convolutions)")
_register("vgg16", "D", "config D; torchvision vgg16, Keras VGG16")
_register("vgg19", "E", "config E; torchvision vgg19, Keras VGG19")
for _name, _config in (("vgg11", "A"), ("vgg13", "B"), ("vgg16", "D"), ("vgg19", "E")):
    _register(f"{_name}_bn", _config, f"config {_config} with batch norm; torchvision {_name}_bn", batch_norm=True)
