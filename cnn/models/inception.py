"""Inception v3 (Szegedy et al. 2016, "Rethinking the Inception architecture"), torchvision's layout.

299×299×3 → stem (3×3/2 conv 32 → 3×3 32 → 3×3 padded 64 → 3×3/2 max pool → 1×1 80 → 3×3 192 →
3×3/2 max pool: 35×35×192) → three InceptionA (Fig. 5, 35×35×256, 288, 288) → InceptionB (grid
reduction, Fig. 10: 17×17×768) → four InceptionC (Fig. 6, 7×7 factorised into 1×7 and 7×1) →
InceptionD (reduction: 8×8×1280) → two InceptionE (Fig. 7, expanded 1×3 / 3×1 outputs: 8×8×2048)
→ global average pool → dropout 0.5 → FC. Every convolution is BasicConv2d: conv without bias →
batch norm (ε = 1e-3) → ReLU. Stride-1 convolutions are zero-padded to keep the size ("SAME",
symmetric for odd kernels); strided ones and the stem's first two are unpadded. The pool branches
average 3×3/1 windows, zero padding counted (PyTorch's avg_pool2d default).

Auxiliary classifier on the 17×17 output of Mixed_6e (train only): 5×5/3 average pool → 1×1 conv 128
→ 5×5 conv 768 → FC num_classes, returned as `taps["aux_logits"] = (aux,)` when train=True; it is
built at `init` (train=False) too so its parameters exist, and needs the 17×17 grid of a 299×299
input (use aux_logits=False for smaller inputs; the rest runs from 75×75).

Parameters (1000 classes): 23,834,568 without the auxiliary head and 27,161,264 with it, exactly
torchvision's counts: the head adds 768·128 + 2·128 (conv0) + 25·128·768 + 2·768 (conv1) + 768·1000
+ 1000 (fc) = 3,326,696. The trunk's 23,834,568 are 21,751,136 convolution weights, 2·17,216 batch
norm γ, β over its 94 units and the FC's 2,049,000 (= 2048·1000 + 1000).

Keras's InceptionV3 is the same network with BN without γ (scale=False: `bn_scale=False`, 17,216
fewer parameters) and pool branches that average only real pixels at the border (TensorFlow's
"SAME" average pooling: `pool_count_include_pad=False`). Not modelled: torchvision's
transform_input (re-standardisation for its ported weights).

Units run in the order Keras lists them (deepest first, ties in branch order), so that
`cnn.transfer.import_keras`, which pairs same-shaped layers in order, pairs each with its twin; the
branches are concatenated in the paper's order, which is what the output depends on.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn.layers import BatchNorm, Conv, Dropout, avg_pool, global_avg_pool, max_pool, relu
from cnn.layers.padding import Padding
from cnn.models.registry import register

Unit = Callable[..., nn.Module]


class BasicConv2d(nn.Module):
    """torchvision's unit y = ReLU(BN(conv(x))), conv without bias; `bn_scale=False` drops BN's γ
    (Keras's conv2d_bn), which cnn.layers.blocks.ConvBN cannot."""

    features: int
    kernel_size: tuple[int, int]
    stride: int = 1
    padding: Padding = "SAME"
    bn_epsilon: float = 1e-3
    bn_scale: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = Conv(self.features, self.kernel_size, stride=self.stride, padding=self.padding, use_bias=False,
                 kernel_init=nn.initializers.variance_scaling(2.0, "fan_out", "normal"), name="conv")(x)
        x = BatchNorm(epsilon=self.bn_epsilon, use_scale=self.bn_scale, name="bn")(x, train)
        return relu(x)


def _pool_branch(x: jax.Array, count_include_pad: bool) -> jax.Array:
    return avg_pool(x, 3, 1, padding=1, count_include_pad=count_include_pad)


class InceptionA(nn.Module):
    """35×35 module (Fig. 5): 1×1 64 | 1×1 48 → 5×5 64 | 1×1 64 → 3×3 96 → 3×3 96 | avg pool → 1×1
    `pool_features`; 224 + pool_features channels."""

    pool_features: int
    unit: Unit
    count_include_pad: bool

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        u = self.unit
        dbl = u(64, (1, 1), name="branch3x3dbl_1")(x, train)
        b5 = u(48, (1, 1), name="branch5x5_1")(x, train)
        dbl = u(96, (3, 3), name="branch3x3dbl_2")(dbl, train)
        b1 = u(64, (1, 1), name="branch1x1")(x, train)
        b5 = u(64, (5, 5), name="branch5x5_2")(b5, train)
        dbl = u(96, (3, 3), name="branch3x3dbl_3")(dbl, train)
        pool = u(self.pool_features, (1, 1), name="branch_pool")(_pool_branch(x, self.count_include_pad), train)
        return jnp.concatenate([b1, b5, dbl, pool], axis=-1)


class InceptionB(nn.Module):
    """35 → 17 grid reduction (Fig. 10): 3×3/2 384 | 1×1 64 → 3×3 96 → 3×3/2 96 | 3×3/2 max pool."""

    unit: Unit

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        u = self.unit
        dbl = u(64, (1, 1), name="branch3x3dbl_1")(x, train)
        dbl = u(96, (3, 3), name="branch3x3dbl_2")(dbl, train)
        b3 = u(384, (3, 3), stride=2, padding="VALID", name="branch3x3")(x, train)
        dbl = u(96, (3, 3), stride=2, padding="VALID", name="branch3x3dbl_3")(dbl, train)
        return jnp.concatenate([b3, dbl, max_pool(x, 3, 2)], axis=-1)


class InceptionC(nn.Module):
    """17×17 module (Fig. 6, n = 7): 1×1 192 | 1×1 c → 1×7 c → 7×1 192 | 1×1 c → 7×1 c → 1×7 c → 7×1 c
    → 1×7 192 | avg pool → 1×1 192, with c = `channels_7x7`; 768 channels."""

    channels_7x7: int
    unit: Unit
    count_include_pad: bool

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        u, c = self.unit, self.channels_7x7
        dbl = u(c, (1, 1), name="branch7x7dbl_1")(x, train)
        dbl = u(c, (7, 1), name="branch7x7dbl_2")(dbl, train)
        b7 = u(c, (1, 1), name="branch7x7_1")(x, train)
        dbl = u(c, (1, 7), name="branch7x7dbl_3")(dbl, train)
        b7 = u(c, (1, 7), name="branch7x7_2")(b7, train)
        dbl = u(c, (7, 1), name="branch7x7dbl_4")(dbl, train)
        b1 = u(192, (1, 1), name="branch1x1")(x, train)
        b7 = u(192, (7, 1), name="branch7x7_3")(b7, train)
        dbl = u(192, (1, 7), name="branch7x7dbl_5")(dbl, train)
        pool = u(192, (1, 1), name="branch_pool")(_pool_branch(x, self.count_include_pad), train)
        return jnp.concatenate([b1, b7, dbl, pool], axis=-1)


class InceptionD(nn.Module):
    """17 → 8 grid reduction: 1×1 192 → 3×3/2 320 | 1×1 192 → 1×7 → 7×1 → 3×3/2 192 | 3×3/2 max pool."""

    unit: Unit

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        u = self.unit
        b7 = u(192, (1, 1), name="branch7x7x3_1")(x, train)
        b7 = u(192, (1, 7), name="branch7x7x3_2")(b7, train)
        b3 = u(192, (1, 1), name="branch3x3_1")(x, train)
        b7 = u(192, (7, 1), name="branch7x7x3_3")(b7, train)
        b3 = u(320, (3, 3), stride=2, padding="VALID", name="branch3x3_2")(b3, train)
        b7 = u(192, (3, 3), stride=2, padding="VALID", name="branch7x7x3_4")(b7, train)
        return jnp.concatenate([b3, b7, max_pool(x, 3, 2)], axis=-1)


class InceptionE(nn.Module):
    """8×8 module with expanded outputs (Fig. 7): 1×1 320 | 1×1 384 → (1×3 384 ‖ 3×1 384) | 1×1 448 →
    3×3 384 → (1×3 384 ‖ 3×1 384) | avg pool → 1×1 192; 2048 channels."""

    unit: Unit
    count_include_pad: bool

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        u = self.unit
        dbl = u(448, (1, 1), name="branch3x3dbl_1")(x, train)
        b3 = u(384, (1, 1), name="branch3x3_1")(x, train)
        dbl = u(384, (3, 3), name="branch3x3dbl_2")(dbl, train)
        b3 = jnp.concatenate([u(384, (1, 3), name="branch3x3_2a")(b3, train),
                              u(384, (3, 1), name="branch3x3_2b")(b3, train)], axis=-1)
        dbl = jnp.concatenate([u(384, (1, 3), name="branch3x3dbl_3a")(dbl, train),
                               u(384, (3, 1), name="branch3x3dbl_3b")(dbl, train)], axis=-1)
        b1 = u(320, (1, 1), name="branch1x1")(x, train)
        pool = u(192, (1, 1), name="branch_pool")(_pool_branch(x, self.count_include_pad), train)
        return jnp.concatenate([b1, b3, dbl, pool], axis=-1)


class InceptionAux(nn.Module):
    """Auxiliary head on the 17×17×768 grid: 5×5/3 avg pool (5×5) → 1×1 128 → 5×5 768 (1×1) → FC."""

    num_classes: int
    unit: Unit

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if min(x.shape[1:3]) < 17:
            raise ValueError(
                f"{self.name}: the auxiliary classifier needs the 17×17 grid of a 299×299 input, got "
                f"{x.shape[1]}×{x.shape[2]}; pass aux_logits=False for smaller inputs"
            )
        x = avg_pool(x, 5, 3)
        x = self.unit(128, (1, 1), name="conv0")(x, train)
        x = self.unit(768, (5, 5), padding="VALID", name="conv1")(x, train)
        return nn.Dense(self.num_classes, name="fc")(global_avg_pool(x))


class Inception3(nn.Module):
    """Inception v3 as torchvision's Inception3 (module docstring); submodules carry its names.

    taps: "stem" (35×35×192 at 299), "Mixed_5b" … "Mixed_7c", "features" (2048, globally pooled) and,
    when train=True with aux_logits, "aux_logits" = (head on Mixed_6e,).
    """

    num_classes: int = 1000
    aux_logits: bool = True
    dropout: float = 0.5
    bn_epsilon: float = 1e-3
    bn_scale: bool = True  # Keras: False
    pool_count_include_pad: bool = True  # Keras: False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        u = partial(BasicConv2d, bn_epsilon=self.bn_epsilon, bn_scale=self.bn_scale)
        pad = self.pool_count_include_pad
        taps = {}
        x = u(32, (3, 3), stride=2, padding="VALID", name="Conv2d_1a_3x3")(x, train)
        x = u(32, (3, 3), padding="VALID", name="Conv2d_2a_3x3")(x, train)
        x = u(64, (3, 3), name="Conv2d_2b_3x3")(x, train)
        x = max_pool(x, 3, 2)
        x = u(80, (1, 1), name="Conv2d_3b_1x1")(x, train)
        x = u(192, (3, 3), padding="VALID", name="Conv2d_4a_3x3")(x, train)
        x = taps["stem"] = max_pool(x, 3, 2)

        blocks = [
            InceptionA(32, u, pad, name="Mixed_5b"),
            InceptionA(64, u, pad, name="Mixed_5c"),
            InceptionA(64, u, pad, name="Mixed_5d"),
            InceptionB(u, name="Mixed_6a"),
            InceptionC(128, u, pad, name="Mixed_6b"),
            InceptionC(160, u, pad, name="Mixed_6c"),
            InceptionC(160, u, pad, name="Mixed_6d"),
            InceptionC(192, u, pad, name="Mixed_6e"),
        ]
        for block in blocks:
            x = taps[block.name] = block(x, train)
        # Parameters must exist after init (train=False); the head's output is for training only.
        if self.aux_logits and (train or self.is_initializing()):
            aux = InceptionAux(self.num_classes, u, name="AuxLogits")(x, train)
            if train:
                taps["aux_logits"] = (aux,)
        for block in (InceptionD(u, name="Mixed_7a"), InceptionE(u, pad, name="Mixed_7b"),
                      InceptionE(u, pad, name="Mixed_7c")):
            x = taps[block.name] = block(x, train)

        x = taps["features"] = global_avg_pool(x)
        x = Dropout(self.dropout)(x, train)
        return nn.Dense(self.num_classes, name="fc")(x), taps


register("inception_v3", Inception3, input_shape=(299, 299, 3), num_classes=1000,
         reference="Szegedy et al. 2016; torchvision inception_v3")
