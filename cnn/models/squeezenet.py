"""SqueezeNet (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters"), 1.0 and 1.1.

A Fire module squeezes its input with s 1×1 filters, then expands with e 1×1 and e 3×3 filters
(padding 1), each followed by a ReLU, and concatenates the two expansions: 2e channels out.
The network (torchvision's layout; pools are 3×3/2 max pools):

    1.0: conv1 7×7/2 96, pool, fire2..fire4, pool, fire5..fire8, pool, fire9
    1.1: conv1 3×3/2 64, pool, fire2, fire3, pool, fire4, fire5, pool, fire6..fire9

with (s, e) = (16, 64), (16, 64), (32, 128), (32, 128), (48, 192), (48, 192), (64, 256), (64, 256) for
fire2..fire9. Neither convolution has padding; the head is Dropout(0.5) → conv10 1×1 num_classes →
ReLU → global average pool, so the logits are non-negative, as torchvision's.

torchvision pools with ceil_mode=True, out = ⌈(n − 3)/2⌉ + 1: here the end of each axis is padded
(with −∞, which never wins) just enough for that last window. At 224×224 this gives, for 1.0,
conv1 109 → 54 → 27 → 13 and, for 1.1, conv1 111 → 55 → 27 → 13: both feature maps end at 13×13×512.

Parameters (1000 classes): a Fire module has (C_in + 1)·s + (s + 1)·e + (9s + 1)·e; the eight modules
hold 721,216 in 1.0 (C_in of fire2 is 96) and 720,704 in 1.1 (64); conv1 has 14,208 (7·7·3 + 1)·96
and 1,792 (3·3·3 + 1)·64, conv10 (512 + 1)·1000 = 513,000. Totals 1,248,424 (squeezenet1_0) and
1,235,496 (squeezenet1_1), as torchvision.

Initialisation is torchvision's: He-uniform (fan_in) kernels, except conv10 ~ N(0, 0.01²); biases zero.
There is no "features" tap: the pooling comes after the classifier. Taps: "conv1", "fire2".."fire9"
(each module's output, before any following pool) and "conv10" (after its ReLU, before the pooling).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn.layers import BorderWarning, Conv, Dropout, global_avg_pool, max_pool, relu
from cnn.models.registry import register

# (squeeze, expand) of fire2..fire9, the same in both versions.
FIRES = ((16, 64), (16, 64), (32, 128), (32, 128), (48, 192), (48, 192), (64, 256), (64, 256))

_he_uniform = nn.initializers.variance_scaling(2.0, "fan_in", "uniform")


class Fire(nn.Module):
    """cat(ReLU(expand1x1(s)), ReLU(expand3x3(s))), s = ReLU(squeeze1x1(x)); 2·expand channels out."""

    squeeze: int
    expand: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        s = relu(Conv(self.squeeze, (1, 1), kernel_init=_he_uniform, name="squeeze")(x))
        e1 = relu(Conv(self.expand, (1, 1), kernel_init=_he_uniform, name="expand1x1")(s))
        e3 = relu(Conv(self.expand, (3, 3), padding=1, kernel_init=_he_uniform, name="expand3x3")(s))
        return jnp.concatenate([e1, e3], axis=-1)


class SqueezeNet(nn.Module):
    """SqueezeNet: conv1 (`stem_features` filters `stem_kernel`×`stem_kernel`, stride 2), then the
    Fire modules of `FIRES` with a 3×3/2 ceil-mode max pool before each fire listed in `pool_before`."""

    num_classes: int = 1000
    stem_features: int = 96
    stem_kernel: int = 7
    pool_before: Sequence[int] = (2, 5, 9)  # fire numbers, as 1.0; 1.1 pools before 2, 4, 6
    dropout: float = 0.5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        taps = {}
        k = self.stem_kernel
        stem = Conv(self.stem_features, (k, k), stride=2, kernel_init=_he_uniform, name="conv1")
        with warnings.catch_warnings():
            # At 224 (and any even size) the stride-2 stem never reads the last row and column, as in
            # torchvision: (224 − 7)/2 + 1 = 109.5. That is the reference architecture, not a mistake to flag.
            warnings.simplefilter("ignore", BorderWarning)
            x = taps["conv1"] = relu(stem(x))
        for number, (squeeze, expand) in enumerate(FIRES, start=2):
            if number in self.pool_before:
                x = max_pool(x, 3, 2, ceil_mode=True)
            x = taps[f"fire{number}"] = Fire(squeeze, expand, name=f"fire{number}")(x)
        x = Dropout(self.dropout)(x, train)
        x = taps["conv10"] = relu(Conv(self.num_classes, (1, 1), kernel_init=nn.initializers.normal(0.01),
                                          name="conv10")(x))
        return global_avg_pool(x), taps


register("squeezenet1_0", SqueezeNet, input_shape=(224, 224, 3), num_classes=1000,
         reference="Iandola et al. 2016, SqueezeNet 1.0; torchvision squeezenet1_0")
register("squeezenet1_1", partial(SqueezeNet, stem_features=64, stem_kernel=3, pool_before=(2, 4, 6)),
         input_shape=(224, 224, 3), num_classes=1000,
         reference="Iandola et al. 2016 (v1.1 from the authors' repository); torchvision squeezenet1_1")
