"""Deep Fried Convnets (Yang, Moczulski, Denil, de Freitas, Smola, Song & Wang, ICCV 2015): a convnet
whose fully connected layers are replaced by one Adaptive Fastfood layer (`cnn.layers.fastfood`).

Both networks: the reference net's convolutions, flatten, x ↦ ReLU(AdaptiveFastfood_n(x)) (ReLU of
random Fastfood projections approximates the arc-cosine kernel, which is where the paper starts
from), dropout, and a dense softmax classifier reading the n Fastfood features. Taps: the trunk's
conv{i} / norm{i} / pool{i}, "fastfood" = "features" (the n ReLU features before dropout).

`deep_fried_alexnet`, on the Caffe reference ImageNet model ("CaffeNet", 227×227): conv1 96 11×11/4,
ReLU, pool 3×3/2, LRN; conv2 256 5×5 pad 2 in two groups, ReLU, pool, LRN; conv3 384, conv4 384 (two
groups), conv5 256 (two groups), 3×3 pad 1, ReLU; pool → 6×6×256 = 9216, padded to d = 16384 = 2^14.
Its fc6 and fc7 (9216 → 4096 → 4096) become one Adaptive Fastfood layer with n = 16384 outputs (one
block; the paper's "Adaptive Fastfood 16"; n = 32768, two blocks, is its "32"), then fc8 16384 → 1000.
Caffe's LRN is b = a/(1 + (α/5) Σ a²)^0.75 with α = 1e-4, here k = 1, alpha = 2e-5 (AlexNet's paper
has k = 2); Caffe's ceil-mode pooling gives the same 55 → 27 → 13 → 6 maps as floor mode here.
Parameters, hand count: convolutions 96·(363+1) + 256·(1200+1) + 384·(2304+1) + 384·(1728+1) +
256·(1728+1) = 2,334,080; Fastfood 3·16384 + 16384 = 65,536; fc8 1000·16385 = 16,385,000; 18,784,616
in all. The paper counts weights above the convolutions without biases: 3·16384 + 16384·1000 =
16,433,152, its 16.4M, against 58.6M for CaffeNet's fc6–fc8 (9216·4096 + 4096·4096 + 4096·1000 =
58,621,952; the paper prints 58.7M, as far as I recall it, and I cannot reconcile the last digit).
The reading "one Fastfood layer replaces fc6 and fc7" is taken from the paper's abstract and from this
count: Fastfood layers in place of each of fc6 and fc7 would make 16,482,304 (16.5M).

`deep_fried_mnist`, on Caffe's LeNet example (28×28×1): conv1 20 5×5, max pool 2×2/2, conv2 50 5×5,
max pool 2×2/2 → 4×4×50 = 800, padded to d = 1024; Adaptive Fastfood n = 1024 (one block; the paper
also trains n = 2048, `fastfood_features=2048`, two blocks), ReLU, dropout, 10-way classifier. As
in Caffe's example the convolutions have no ReLU of their own (max pooling is the nonlinearity).
Parameters: 20·26 + 50·501 + (3·1024 + 1024) + 10·1025 = 39,916. Weights only, as the paper counts:
500 + 25,000 + 3,072 + 10,240 = 38,812 (the paper's Table 1 prints 38,821 as I recall it, likely a
transposition) and for n = 2048: 25,500 + 6,144 + 20,480 = 52,124, the paper's number; Caffe's LeNet
has 500 + 25,000 + 400,000 + 5,000 = 430,500 weights, the paper's reference count (11× more).

Differences and uncertainties: dropout 0.5 on the Fastfood layer's ReLU outputs is Caffe's usual rate
and place; the paper regularises its Fastfood layer with dropout too, but its rate and exact place are
not checked. The trunk flattens (H, W, C) where Caffe flattens (C, H, W), which only relabels the
Fastfood inputs. Weights start at lecun_normal (convolutions, classifier) and at Fastfood's
distributions (B, G, S), not Caffe's Gaussian fillers. `cnn.layers.fastfood` says which Hadamard
normalisation is used and why.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import flax.linen as nn
import jax

from cnn.layers import Conv, Dropout, LocalResponseNorm, max_pool, relu
from cnn.layers.fastfood import AdaptiveFastfood
from cnn.models.alexnet import Stage, conv_stages
from cnn.models.registry import register

Trunk = Callable[[jax.Array, dict], jax.Array]  # (images, taps to fill) -> last feature maps

CAFFENET = (
    Stage(96, 11, 4, after=("pool", "norm")),
    Stage(256, 5, padding=2, groups=2, after=("pool", "norm")),
    Stage(384, 3, padding=1),
    Stage(384, 3, padding=1, groups=2),
    Stage(256, 3, padding=1, groups=2, after=("pool",)),
)


def caffenet_trunk(x: jax.Array, taps: dict) -> jax.Array:
    """CaffeNet's convolutions (`CAFFENET`), each with ReLU; "norm" is Caffe's LRN, "pool" 3×3/2 max.

    Called inside a compact method: the layers it creates are the caller's, named conv1 … conv5.
    """
    return conv_stages(x, taps, CAFFENET, norm=partial(LocalResponseNorm, k=1.0, alpha=1e-4 / 5))


def lenet_trunk(x: jax.Array, taps: dict) -> jax.Array:
    """Caffe's LeNet convolutions: conv1 20 5×5, pool 2×2/2, conv2 50 5×5, pool 2×2/2, no ReLU."""
    x = taps["conv1"] = Conv(20, (5, 5), name="conv1")(x)
    x = taps["pool1"] = max_pool(x, 2)
    x = taps["conv2"] = Conv(50, (5, 5), name="conv2")(x)
    x = taps["pool2"] = max_pool(x, 2)
    return x


class DeepFried(nn.Module):
    """`trunk`, flatten, ReLU(AdaptiveFastfood(fastfood_features)), dropout, dense classifier."""

    num_classes: int = 1000
    trunk: Trunk = caffenet_trunk
    fastfood_features: int = 16384
    dropout: float = 0.5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        taps = {}
        x = self.trunk(x, taps)
        x = x.reshape(x.shape[0], -1)
        x = taps["fastfood"] = taps["features"] = relu(AdaptiveFastfood(self.fastfood_features,
                                                                           name="fastfood")(x))
        x = Dropout(self.dropout)(x, train)
        return nn.Dense(self.num_classes, name="classifier")(x), taps


register("deep_fried_alexnet", DeepFried, input_shape=(227, 227, 3), num_classes=1000,
         reference="Yang et al. 2015, Adaptive Fastfood 16 on the Caffe reference net")
register("deep_fried_mnist", partial(DeepFried, trunk=lenet_trunk, fastfood_features=1024),
         input_shape=(28, 28, 1), num_classes=10, reference="Yang et al. 2015, Adaptive Fastfood 1024 on Caffe's LeNet")
