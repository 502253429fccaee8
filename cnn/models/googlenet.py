"""GoogLeNet, Inception v1 (Szegedy et al. 2015, "Going deeper with convolutions", Table 1 and Fig. 3).

224×224×3 → 7×7/2 conv 64 → 3×3/2 max pool → LRN → 1×1 conv 64 → 3×3 conv 192 → LRN → 3×3/2 max
pool (28×28×192) → inception 3a, 3b → max pool → 4a–4e → max pool → 5a, 5b (7×7×1024) → 7×7 average
pool → dropout 0.4 → FC. An inception module concatenates four branches, in Table 1's columns:
1×1 conv (#1×1) | 1×1 (#3×3 reduce) → 3×3 (#3×3) | 1×1 (#5×5 reduce) → 5×5 (#5×5) | 3×3/1 max pool →
1×1 (pool proj); every convolution is followed by a ReLU. Max pools are Caffe's (torchvision's
ceil_mode=True): out = ceil((n − k)/s) + 1, so 112 → 56 → 28 → 14 → 7. The average pool is global
(the paper's 7×7 at 224). LRN's constants are the Caffe reference model's (the paper gives none):
size 5, k = 1, α = 1e-4 / 5 (Caffe divides α by the size; `cnn.layers.norm`), β = 0.75.

Auxiliary classifiers on the outputs of 4a and 4d (train only): 5×5/3 average pool (14 → 4) →
1×1 conv 128 → FC 1024 → dropout 0.7 → FC num_classes, ReLU after the conv and FC 1024. Their
logits are `taps["aux_logits"] = (aux1, aux2)` when train=True; the paper adds 0.3 × their losses.
They are built at `init` (train=False) too, so their parameters exist before training.

Parameters (1000 classes), `googlenet_2014` (the paper: biases, 5×5 convolutions, no batch norm):
weights 124,096 (stem: 7·7·3·64 + 64·64 + 9·64·192) + Σ over the nine modules of
C_in·(#1×1 + #3×3 reduce + #5×5 reduce + pool proj) + 9·#3×3 reduce·#3×3 + 25·#5×5 reduce·#5×5
(3a 163,328, 3b 388,096, 4a 375,552, 4b 448,512, 4c 509,440, 4d 604,672, 4e 867,328, 5a 1,042,432,
5b 1,442,816) + 1,024,000 (FC) = 6,990,272, plus 8,280 biases (one per output channel and class):
6,998,552 without the auxiliary heads. Each head adds C_in·128 + 128 + 2048·1024 + 1024 + 1024·1000
+ 1000 (3,188,840 on 4a, 3,190,888 on 4d): 13,378,280 in all. The paper's "about 6.8M" is the sum
of Table 1's params column (6,797.7K), whose entries are rounded and partly off (4c: 463K listed,
497.5K = 509,440/1024 computed); the table counts weights without biases.

`googlenet` is torchvision's GoogLeNet, the one usually compared with: batch norm after every
convolution (ε = 1e-3, convolutions without bias, no LRN), a 3×3 convolution where the paper has the
5×5 (a known torchvision bug, pytorch/vision#906, kept for its weights), a 2×2/2 max pool before 5a,
adaptive 4×4 average pooling in the auxiliary heads and dropout 0.2: 6,624,904 parameters without the
auxiliary heads, 13,004,888 with them (torchvision's counts). Its auxiliary FC 1024 reads the 4×4×128
map flattened channels-last (ours) rather than channels-first (PyTorch); importing its weights would
permute that kernel. torchvision's transform_input (for its ported weights) is not modelled.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn.layers import Conv, Dropout, LocalResponseNorm, adaptive_avg_pool, avg_pool, global_avg_pool, max_pool, relu
from cnn.layers.blocks import ConvBN
from cnn.layers.padding import Padding
from cnn.models.registry import register

# Table 1: #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj.
TABLE1 = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
STAGES = (("3a", "3b"), ("4a", "4b", "4c", "4d", "4e"), ("5a", "5b"))
AUX_TAPS = ("4a", "4d")


class ConvReLU(nn.Module):
    """The paper's convolution unit, y = ReLU(conv(x) + b); called as ConvBN is, (x, train)."""

    features: int
    kernel_size: tuple[int, int]
    stride: int = 1
    padding: Padding = "VALID"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        return relu(Conv(self.features, self.kernel_size, stride=self.stride, padding=self.padding,
                            name="conv")(x))


def conv_unit(batch_norm: bool, bn_epsilon: float) -> Callable[..., nn.Module]:
    """The convolution unit: ConvBN (conv without bias → BN → ReLU) or the paper's ConvReLU."""
    return partial(ConvBN, bn_epsilon=bn_epsilon) if batch_norm else ConvReLU


class Inception(nn.Module):
    """Inception module (Fig. 2b): the four branches of Table 1's columns, concatenated in that order.

    `widths` = (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj); output channels
    #1×1 + #3×3 + #5×5 + pool proj at the input's resolution.
    """

    widths: tuple[int, int, int, int, int, int]
    batch_norm: bool
    bn_epsilon: float
    kernel_5x5: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        unit = conv_unit(self.batch_norm, self.bn_epsilon)
        n1, n3r, n3, n5r, n5, pool_proj = self.widths
        k = self.kernel_5x5
        b1 = unit(n1, (1, 1), name="1x1")(x, train)
        b2 = unit(n3r, (1, 1), name="3x3_reduce")(x, train)
        b2 = unit(n3, (3, 3), padding=1, name="3x3")(b2, train)
        b3 = unit(n5r, (1, 1), name="5x5_reduce")(x, train)
        b3 = unit(n5, (k, k), padding=k // 2, name="5x5")(b3, train)
        b4 = unit(pool_proj, (1, 1), name="pool_proj")(max_pool(x, 3, 1, padding=1), train)
        return jnp.concatenate([b1, b2, b3, b4], axis=-1)


class AuxClassifier(nn.Module):
    """Auxiliary head (§5): average pool to 4×4 → 1×1 conv 128 → FC 1024 → dropout 0.7 → FC.

    The pool is the paper's 5×5/3 (14×14 → 4×4) or, with `adaptive_pool`, torchvision's adaptive
    average to 4×4 (overlapping windows of 4 on a 14×14 map).
    """

    num_classes: int
    batch_norm: bool
    bn_epsilon: float
    adaptive_pool: bool

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = adaptive_avg_pool(x, 4) if self.adaptive_pool else avg_pool(x, 5, 3)
        x = conv_unit(self.batch_norm, self.bn_epsilon)(128, (1, 1), name="conv")(x, train)
        x = x.reshape(x.shape[0], -1)
        x = relu(nn.Dense(1024, name="fc1")(x))
        x = Dropout(0.7)(x, train)
        return nn.Dense(self.num_classes, name="fc2")(x)


class GoogLeNet(nn.Module):
    """GoogLeNet; defaults are the paper's, `googlenet` sets torchvision's fields (module docstring).

    taps: "stem" (28×28×192 at 224), "inception_3a" … "inception_5b", "features" (1024, globally
    pooled) and, when train=True with aux_logits, "aux_logits" = (head on 4a, head on 4d).
    """

    num_classes: int = 1000
    batch_norm: bool = False  # True: torchvision's BN after every conv, no conv bias, no LRN
    bn_epsilon: float = 1e-3
    kernel_5x5: int = 5  # torchvision: 3 (pytorch/vision#906)
    pool4_window: int = 3  # the max pool before 5a; torchvision: 2
    aux_adaptive_pool: bool = False  # torchvision: True
    dropout: float = 0.4  # torchvision: 0.2
    aux_logits: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        unit = conv_unit(self.batch_norm, self.bn_epsilon)
        # Caffe's LRN: α = 1e-4 divided by the window of 5.
        lrn = (lambda y: y) if self.batch_norm else LocalResponseNorm(size=5, k=1.0, alpha=2e-5, beta=0.75)
        taps = {}
        x = unit(64, (7, 7), stride=2, padding=3, name="conv1")(x, train)
        x = lrn(max_pool(x, 3, 2, ceil_mode=True))
        x = unit(64, (1, 1), name="conv2_reduce")(x, train)
        x = lrn(unit(192, (3, 3), padding=1, name="conv2")(x, train))
        x = taps["stem"] = max_pool(x, 3, 2, ceil_mode=True)

        # Parameters must exist after init (train=False); the heads' outputs are for training only.
        build_aux = self.aux_logits and (train or self.is_initializing())
        aux = []
        for index, stage in enumerate(STAGES):
            if index:
                x = max_pool(x, self.pool4_window if index == 2 else 3, 2, ceil_mode=True)
            for block in stage:
                name = f"inception_{block}"
                x = taps[name] = Inception(TABLE1[block], self.batch_norm, self.bn_epsilon, self.kernel_5x5,
                                           name=name)(x, train)
                if build_aux and block in AUX_TAPS:
                    aux.append(AuxClassifier(self.num_classes, self.batch_norm, self.bn_epsilon,
                                             self.aux_adaptive_pool, name=f"aux{len(aux) + 1}")(x, train))

        x = taps["features"] = global_avg_pool(x)
        x = Dropout(self.dropout)(x, train)
        logits = nn.Dense(self.num_classes, name="fc")(x)
        if train and self.aux_logits:
            taps["aux_logits"] = tuple(aux)
        return logits, taps


register("googlenet", partial(GoogLeNet, batch_norm=True, kernel_5x5=3, pool4_window=2, aux_adaptive_pool=True,
                              dropout=0.2),
         input_shape=(224, 224, 3), num_classes=1000, reference="Szegedy et al. 2015; torchvision googlenet")
register("googlenet_2014", GoogLeNet, input_shape=(224, 224, 3), num_classes=1000,
         reference="Szegedy et al. 2015, Table 1 (LRN, no batch norm, 5×5 convolutions)")
