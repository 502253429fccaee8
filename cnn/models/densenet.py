"""DenseNet (Huang, Liu, van der Maaten & Weinberger 2017), as torchvision's densenet121/161/169/201, and
the paper's CIFAR DenseNet-BC (L = 100, k = 12).

Each layer of a dense block reads the concatenation of every earlier map of its block and adds k maps
(k, the growth rate): BN-ReLU-conv 1×1 (bn_size·k = 4k maps, the bottleneck, "B") then BN-ReLU-conv 3×3 (k
maps, padding 1). A block of n layers turns c channels into c + n·k. Transitions between blocks compress by
θ = 0.5 ("C"): BN-ReLU-conv 1×1 (⌊θc⌋ maps)-avg pool 2×2/2. The ImageNet stem is conv 7×7/2 (pad 3, 2k
maps; 96 for densenet161)-BN-ReLU-max pool 3×3/2 (pad 1); the CIFAR stem a single conv 3×3 (pad 1, 2k
maps). The head is BN-ReLU-global average-FC. No convolution has a bias.

Parameters (BN counts γ and β; its running statistics are not parameters), with k the growth rate:

    stem           3·7·7·c₀ + 2c₀                 (CIFAR: 3·3·3·c₀)
    dense layer    2c + 4k·c + 2·4k + 9·4k·k        on c input channels
    transition     2c + c·⌊c/2⌋
    head           2c + (c + 1)·classes

which gives, at 1000 classes, torchvision's counts: densenet121 (blocks 6-12-24-16, k = 32) 7,978,856,
densenet169 (6-12-32-32) 14,149,480, densenet201 (6-12-48-32) 20,013,928, densenet161 (6-12-36-24, k = 48,
c₀ = 96) 28,681,000; and for DenseNet-BC-100 (three blocks of (100 − 4)/6 = 16 layers, k = 12, c₀ = 24,
widths 24 → 216 → 108 → 300 → 150 → 342) at 10 classes 769,162, the paper's "0.8M".

Keras's DenseNet121/169/201 are the same networks with BN ε = 1.001e-5 (`bn_epsilon`); torchvision's
ε is 1e-5. torchvision's optional dropout after each new layer's 3×3 conv is `drop_rate` (the paper uses
0.2 on CIFAR without data augmentation).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn.layers import BatchNorm, Conv, Dropout, avg_pool, global_avg_pool, max_pool, relu
from cnn.models.registry import register

# torchvision's kaiming_normal_ (fan_in, gain √2, untruncated).
_KERNEL_INIT = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


class DenseLayer(nn.Module):
    """BN-ReLU-conv1×1 (bottleneck) → BN-ReLU-conv3×3: the k new maps to concatenate to x."""

    growth_rate: int
    bn_size: int = 4
    drop_rate: float = 0.0
    bn_epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm = partial(BatchNorm, epsilon=self.bn_epsilon)
        x = relu(norm(name="norm1")(x, train))
        x = Conv(self.bn_size * self.growth_rate, (1, 1), use_bias=False, kernel_init=_KERNEL_INIT, name="conv1")(x)
        x = relu(norm(name="norm2")(x, train))
        x = Conv(self.growth_rate, (3, 3), padding=1, use_bias=False, kernel_init=_KERNEL_INIT, name="conv2")(x)
        return Dropout(self.drop_rate)(x, train) if self.drop_rate else x


class DenseBlock(nn.Module):
    """`num_layers` dense layers; each one's input is the block input and every earlier layer's output."""

    num_layers: int
    growth_rate: int
    bn_size: int = 4
    drop_rate: float = 0.0
    bn_epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        for i in range(1, self.num_layers + 1):
            new = DenseLayer(self.growth_rate, self.bn_size, self.drop_rate, self.bn_epsilon, name=f"denselayer{i}")
            # The block input's channels come first, then the layers' in order (torchvision and Keras alike).
            x = jnp.concatenate([x, new(x, train)], axis=-1)
        return x


class Transition(nn.Module):
    """BN-ReLU-conv1×1 to `features` maps, then 2×2/2 average pooling."""

    features: int
    bn_epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = relu(BatchNorm(epsilon=self.bn_epsilon, name="norm")(x, train))
        x = Conv(self.features, (1, 1), use_bias=False, kernel_init=_KERNEL_INIT, name="conv")(x)
        return avg_pool(x, 2, 2)


class DenseNet(nn.Module):
    """DenseNet-BC; `stem` is "imagenet" (7×7/2 conv-BN-ReLU-max pool) or "cifar" (one 3×3 conv).

    Taps: "stem", "block1"…, "transition1"…, "features" (the pooled maps before the classifier).
    """

    num_classes: int = 1000
    growth_rate: int = 32
    block_config: Sequence[int] = (6, 12, 24, 16)
    num_init_features: int = 64
    bn_size: int = 4
    compression: float = 0.5
    drop_rate: float = 0.0
    stem: str = "imagenet"
    bn_epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        if self.stem not in ("imagenet", "cifar"):
            raise ValueError(f"{self.name}: stem must be 'imagenet' or 'cifar', got {self.stem!r}")
        taps = {}
        norm = partial(BatchNorm, epsilon=self.bn_epsilon)
        if self.stem == "imagenet":
            x = Conv(self.num_init_features, (7, 7), stride=2, padding=3, use_bias=False, kernel_init=_KERNEL_INIT,
                     name="conv0")(x)
            # Padding the max pool with −∞ (ours, torchvision) or 0 (Keras) is the same after a ReLU.
            x = max_pool(relu(norm(name="norm0")(x, train)), 3, 2, padding=1)
        else:
            x = Conv(self.num_init_features, (3, 3), padding=1, use_bias=False, kernel_init=_KERNEL_INIT,
                     name="conv0")(x)
        taps["stem"] = x
        for b, num_layers in enumerate(self.block_config, start=1):
            x = taps[f"block{b}"] = DenseBlock(num_layers, self.growth_rate, self.bn_size, self.drop_rate,
                                               self.bn_epsilon, name=f"denseblock{b}")(x, train)
            if b < len(self.block_config):
                features = int(x.shape[-1] * self.compression)
                x = taps[f"transition{b}"] = Transition(features, self.bn_epsilon, name=f"transition{b}")(x, train)
        x = taps["features"] = global_avg_pool(relu(norm(name="norm5")(x, train)))
        return nn.Dense(self.num_classes, name="classifier")(x), taps


def _imagenet(name: str, growth_rate: int, block_config: tuple[int, ...], num_init_features: int = 64) -> None:
    register(name, partial(DenseNet, growth_rate=growth_rate, block_config=block_config,
                           num_init_features=num_init_features),
             input_shape=(224, 224, 3), num_classes=1000, reference=f"Huang et al. 2017; torchvision {name}")


_imagenet("densenet121", 32, (6, 12, 24, 16))
_imagenet("densenet169", 32, (6, 12, 32, 32))
_imagenet("densenet201", 32, (6, 12, 48, 32))
_imagenet("densenet161", 48, (6, 12, 36, 24), 96)
register("densenet_bc_100_12",
         partial(DenseNet, growth_rate=12, block_config=(16, 16, 16), num_init_features=24, stem="cifar"),
         input_shape=(32, 32, 3), num_classes=10, reference="Huang et al. 2017, DenseNet-BC (L=100, k=12), CIFAR")
