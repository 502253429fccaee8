"""NASNet-A (Zoph et al. 2018, "Learning transferable architectures for scalable image recognition"), as
TF-slim's nets/nasnet and Keras's NASNetMobile / NASNetLarge (a port of it) build it.

The network stacks two searched cells. A cell takes the two previous cells' outputs, x (its input) and p
(the one before), and first reconciles them: h = BN(1×1 conv(ReLU(x))) to f filters, and p is adjusted to
h's grid and width ("factorized reduction" when p is twice as large: ReLU, then two 1×1 convs to f/2 on
p[::2, ::2] and on p shifted by one pixel, p[1::2, 1::2] zero-padded at the end, concatenated, BN; a
ReLU-1×1 conv-BN projection when only the width differs). Every "sep k×k" is TF-slim's stacked separable
convolution: [ReLU → depthwise k×k → pointwise 1×1 → BN] twice, the first one carrying the stride. The
3×3/1 average pools are "SAME", averaging only real pixels. Five combinations, each a sum of two branches:

    normal cell (Fig. 4 left):   x1 = sep5(h) + sep3(p)    x2 = sep5(p) + sep3(p)    x3 = avg(h) + p
                                 x4 = avg(p) + avg(p)      x5 = sep3(h) + h          out = [p, x1, …, x5]: 6f
    reduction cell (Fig. 4 right), the ops on h and p at stride 2 (3×3/2 pools):
                                 x1 = sep5(h) + sep7(p)    x2 = max(h) + sep7(p)     x3 = avg(h) + sep5(p)
                                 x4 = avg(x1) + x2         x5 = sep3(x1) + max(h)    out = [x2, x3, x4, x5]: 4f

ImageNet model "NASNet-A (N @ P)": 3×3/2 conv to `stem_filters` (no padding) + BN, two reduction cells
("stem cells", f = P/24/4 and P/24/2), then three stacks of N normal cells with f = P/24, 2P/24, 4P/24
separated by two reduction cells (2P/24, 4P/24), ReLU, global average, dropout, FC; the last cell is 6f
= P wide. The first stem cell's p is its own input. After a reduction cell the next normal cell's p is the
reduction cell's input (TF-slim's default) or, with `skip_reduction` (Large), the cell before that one.

Parameters, hand count: a separable unit c → f with kernel k has k²c + cf + 2f; a cell's h costs c_x·f + 2f
and an adjusted p c_p·f + 2f (either kind); a normal cell's five separable pairs on f channels add
Σ_k (2k²f + 2f² + 4f) over k = 5, 3, 5, 3, 3, a reduction cell's over k = 5, 7, 7, 5, 3. NASNet-A Mobile
(4 @ 1056, stem 32, 224×224) has 5,289,978 at 1000 classes: stem 928, stem cells 22,482, normal cells
3,500,816, reduction cells 708,752, FC 1,057,000; NASNet-A Large (6 @ 4032, stem 96, skip_reduction,
331×331) 88,753,150: 2,784 + 170,358 + 75,174,624 + 9,372,384 + 4,033,000. Both are exactly the trainable
parameters of Keras's NASNetMobile / NASNetLarge. The paper's 5.3M (Table 3) and 88.9M (Table 2) match the
counts with BN's running means and variances (36,738 and 196,668; Keras's count_params totals 5,326,716 and
88,949,818); the trainable ones alone round to 88.8M for Large. Multiply-accumulates per image,
563,638,816 and 23,783,414,658, are the paper's 564M and 23.8B.

Defaults are Keras's, the reference implementation with ImageNet weights (converted from TF-slim's):
BN ε = 1e-3 and momentum 0.9997, TensorFlow "SAME" padding for every convolution (Keras's ZeroPadding2D
plus a VALID conv is "SAME") except the stem conv (VALID). One place where Keras departs from TF-slim:
a reduction cell's stride-2 max and average pools read h zero-padded (ZeroPadding2D then VALID pooling,
so zeros enter the max and count in the average), where TF-slim's "SAME" pools ignore the padding;
`zero_padded_pools=False` gives TF-slim's. From TF-slim's training graph: dropout 0.5 before the FC
(Keras has none; it only acts in training) and, with `aux_logits`, the auxiliary head on the last normal
cell of the second stack (ReLU → 5×5/3 average pool → 1×1 conv 128 → BN → ReLU → conv over the whole
remaining grid to 768 → BN → ReLU → FC), returned as taps["aux_logits"] = (logits,) in training (TF-slim
weighs its loss 0.4; it adds 2,411,240 parameters to Mobile at 224, 4,567,784 to Large at 331). Not
modelled: TF-slim's ScheduledDropPath (keep probability 0.7 for Large, 1.0 i.e. none for Mobile,
ramped over the training steps, which a Module does not see).

Within a cell the units run in the order Keras lists its layers (all branches' first separable units,
then all second ones; in a reduction cell h before the adjusted p and the x2 branch one level ahead), so that
`cnn.transfer.import_keras`, which pairs same-shaped layers in order, pairs each with its twin.
Taps: "stem", "stem_cell0", "stem_cell1", "cell0" … "cell{3N−1}", "reduction_cell0", "reduction_cell1"
(TF-slim's end point numbering) and "features", the pooled vector before the classifier.
"""

from __future__ import annotations

import warnings
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn.layers import BorderWarning, Conv, Dropout, avg_pool, global_avg_pool, max_pool, pad, relu, same_padding
from cnn.layers.blocks import ConvBN
from cnn.layers.norm import BatchNorm
from cnn.models.registry import register

# TF-slim initialises every kernel with variance_scaling_initializer(mode="FAN_OUT"), factor 2, truncated
# normal. A depthwise kernel is (k, k, C, 1) there and (k, k, 1, C) here, so its fan out is our fan in.
_KERNEL_INIT = nn.initializers.variance_scaling(2.0, "fan_out", "truncated_normal")
_DEPTHWISE_INIT = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")


def _same_avg_pool(x: jax.Array, stride: int = 1) -> jax.Array:
    """TensorFlow's 3×3 "SAME" average pool: border windows average only the real pixels."""
    return avg_pool(x, 3, stride, "SAME", count_include_pad=False)


class SeparableUnit(nn.Module):
    """ReLU → depthwise k×k (stride, "SAME") → pointwise 1×1 to `features` → BN: half of a "sep k×k"
    (Keras's SeparableConv2D + BatchNormalization). Submodules "depthwise", "pointwise" and "bn"."""

    features: int
    kernel_size: int
    stride: int = 1
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.9997

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        k, channels = self.kernel_size, x.shape[-1]
        x = Conv(channels, (k, k), stride=self.stride, padding="SAME", groups=channels, use_bias=False,
                 kernel_init=_DEPTHWISE_INIT, name="depthwise")(relu(x))
        x = Conv(self.features, (1, 1), use_bias=False, kernel_init=_KERNEL_INIT, name="pointwise")(x)
        return BatchNorm(self.bn_momentum, self.bn_epsilon, name="bn")(x, train)


class Adjust(nn.Module):
    """The previous-previous input p matched to the cell's grid (x) and to f = `features` channels: the
    factorized reduction when the widths of the grids differ, a ReLU-1×1 conv-BN projection when only the
    channels do, p itself otherwise. Submodules "path1", "path2", "bn" or "projection"."""

    features: int
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.9997

    @nn.compact
    def __call__(self, p: jax.Array, x: jax.Array, train: bool) -> jax.Array:
        conv = partial(Conv, self.features // 2, (1, 1), use_bias=False, kernel_init=_KERNEL_INIT)
        if p.shape[2] != x.shape[2]:
            p = relu(p)
            # 1×1 average pools with stride 2, i.e. samplings; offset by one pixel, the two see every pixel.
            path1 = conv(name="path1")(p[:, ::2, ::2])
            path2 = conv(name="path2")(pad(p, [(0, 1), (0, 1)])[:, 1::2, 1::2])
            return BatchNorm(self.bn_momentum, self.bn_epsilon, name="bn")(
                jnp.concatenate([path1, path2], axis=-1), train)
        if p.shape[-1] != self.features:
            return ConvBN(self.features, (1, 1), activation=None, bn_epsilon=self.bn_epsilon,
                          bn_momentum=self.bn_momentum, kernel_init=_KERNEL_INIT, name="projection")(relu(p), train)
        return p


class _Cell(nn.Module):
    """Shared by both cells: f = `filters`, the adjusted p, h = BN(1×1 conv(ReLU(x))), separable units."""

    filters: int
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.9997
    zero_padded_pools: bool = True

    def _inputs(self, x: jax.Array, p: jax.Array | None, train: bool, h_first: bool) -> tuple[jax.Array, jax.Array]:
        """(h, adjusted p), h's units first when `h_first` (Keras lists first the side with the longer path)."""
        bn = {"bn_epsilon": self.bn_epsilon, "bn_momentum": self.bn_momentum}

        def make_h() -> jax.Array:
            return ConvBN(self.filters, (1, 1), activation=None, kernel_init=_KERNEL_INIT, **bn, name="base")(
                relu(x), train)

        def make_p() -> jax.Array:
            return x if p is None else Adjust(self.filters, **bn, name="adjust")(p, x, train)

        if h_first:
            h = make_h()
            return h, make_p()
        p_adjusted = make_p()
        return make_h(), p_adjusted

    def _unit(self, name: str, kernel_size: int, stride: int = 1) -> SeparableUnit:
        return SeparableUnit(self.filters, kernel_size, stride, self.bn_epsilon, self.bn_momentum, name=name)


class NormalCell(_Cell):
    """NASNet-A's normal cell (module docstring): (x, p) → 6f channels on x's grid."""

    @nn.compact
    def __call__(self, x: jax.Array, p: jax.Array | None, train: bool) -> jax.Array:
        h, p = self._inputs(x, p, train, h_first=False)
        # (name, input, kernel) of the five separable branches, x1's left and right, x2's, then x5's left.
        branches = [("left1", h, 5), ("right1", p, 3), ("left2", p, 5), ("right2", p, 3), ("left5", h, 3)]
        firsts = [self._unit(f"{name}_1", k)(y, train) for name, y, k in branches]
        s = [self._unit(f"{name}_2", k)(y, train) for (name, _, k), y in zip(branches, firsts)]
        x1, x2, x5 = s[0] + s[1], s[2] + s[3], s[4] + h
        x3 = _same_avg_pool(h) + p
        x4 = 2 * _same_avg_pool(p)  # two identical pools of p summed (exact: doubling rounds nothing)
        return jnp.concatenate([p, x1, x2, x3, x4, x5], axis=-1)


class ReductionCell(_Cell):
    """NASNet-A's reduction cell (module docstring): (x, p) → 4f channels at half x's grid."""

    @nn.compact
    def __call__(self, x: jax.Array, p: jax.Array | None, train: bool) -> jax.Array:
        h, p = self._inputs(x, p, train, h_first=True)  # h's path runs on through x1 to x5
        if self.zero_padded_pools:  # Keras: zeros padded as for a convolution, then VALID pools
            padded = pad(h, [same_padding(n, 3, 2) for n in h.shape[1:3]])
            h_max, h_avg = max_pool(padded, 3, 2), avg_pool(padded, 3, 2)
        else:
            h_max, h_avg = max_pool(h, 3, 2, "SAME"), _same_avg_pool(h, 2)
        u = self._unit
        left1, right1 = u("left1_1", 5, 2)(h, train), u("right1_1", 7, 2)(p, train)
        x1 = u("left1_2", 5)(left1, train) + u("right1_2", 7)(right1, train)
        # Keras lists x2's separable units one level ahead of x3's and x5's: x2 feeds x4 as well.
        right2 = u("right2_1", 7, 2)(p, train)
        right3, left5 = u("right3_1", 5, 2)(p, train), u("left5_1", 3)(x1, train)
        x2 = h_max + u("right2_2", 7)(right2, train)
        x3 = h_avg + u("right3_2", 5)(right3, train)
        x5 = u("left5_2", 3)(left5, train) + h_max
        x4 = _same_avg_pool(x1) + x2
        return jnp.concatenate([x2, x3, x4, x5], axis=-1)


class AuxHead(nn.Module):
    """TF-slim's auxiliary classifier: ReLU → 5×5/3 avg pool → 1×1 conv 128 + BN + ReLU → conv over the
    whole pooled grid to 768 + BN + ReLU → FC. Its second kernel is as large as that grid (4×4 for Mobile at
    224, 6×6 for Large at 331)."""

    num_classes: int
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.9997

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if min(x.shape[1:3]) < 5:
            raise ValueError(f"{self.name}: the auxiliary head pools 5×5 windows and needs a grid of at least 5×5, "
                             f"got {x.shape[1]}×{x.shape[2]}; pass aux_logits=False for small inputs")
        unit = partial(ConvBN, bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum, kernel_init=_KERNEL_INIT)
        with warnings.catch_warnings():
            # TF-slim's VALID 5×5/3 pool leaves a border unread on most grids (21 → 6 at 331 drops one row).
            warnings.simplefilter("ignore", BorderWarning)
            x = avg_pool(relu(x), 5, 3)
        x = unit(128, (1, 1), name="proj")(x, train)
        x = unit(768, x.shape[1:3], name="conv")(x, train)
        return nn.Dense(self.num_classes, kernel_init=_KERNEL_INIT, name="fc")(x.reshape(x.shape[0], -1))


class NASNet(nn.Module):
    """NASNet-A (N @ P): N = `num_cells` normal cells per stack, P = `penultimate_filters`; see the module
    docstring for the fields that differ between Keras and TF-slim."""

    num_classes: int = 1000
    num_cells: int = 4
    penultimate_filters: int = 1056
    stem_filters: int = 32
    filter_multiplier: int = 2
    skip_reduction: bool = False
    zero_padded_pools: bool = True  # Keras; False: TF-slim's "SAME" pools
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.9997
    dropout: float = 0.5  # TF-slim's dense_dropout_keep_prob 0.5
    aux_logits: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        m = self.filter_multiplier
        if self.penultimate_filters % (24 * m * m):
            raise ValueError(f"{self.name}: penultimate_filters must be a multiple of 24 · filter_multiplier² = "
                             f"{24 * m * m} (the last cell's 6f with f = P/24, the stem cells' f = P/24/m²), "
                             f"got {self.penultimate_filters}")
        f = self.penultimate_filters // 24
        cell = {"bn_epsilon": self.bn_epsilon, "bn_momentum": self.bn_momentum,
                "zero_padded_pools": self.zero_padded_pools}
        taps = {}
        stem = ConvBN(self.stem_filters, (3, 3), stride=2, activation=None, bn_epsilon=self.bn_epsilon,
                      bn_momentum=self.bn_momentum, kernel_init=_KERNEL_INIT, name="stem")
        with warnings.catch_warnings():
            # On even sizes the unpadded stride-2 stem never reads the last row and column, as in TF-slim and
            # Keras: (224 − 3)/2 + 1 = 111.5. That is the reference architecture, not a mistake to flag.
            warnings.simplefilter("ignore", BorderWarning)
            x = taps["stem"] = stem(x, train)
        p = None  # the first stem cell's p is its input, unadjusted
        for i, filters in enumerate((f // (m * m), f // m)):
            x, p = ReductionCell(filters, **cell, name=f"stem_cell{i}")(x, p, train), x
            taps[f"stem_cell{i}"] = x
        for stack in range(3):
            if stack:
                before = p  # the reduction cell's p: the cell before its input
                x, p = ReductionCell(f * m ** stack, **cell, name=f"reduction_cell{stack - 1}")(x, p, train), x
                taps[f"reduction_cell{stack - 1}"] = x
                if self.skip_reduction:
                    p = before
            for i in range(stack * self.num_cells, (stack + 1) * self.num_cells):
                x, p = NormalCell(f * m ** stack, **cell, name=f"cell{i}")(x, p, train), x
                taps[f"cell{i}"] = x
            # Parameters must exist after init (train=False); the head's output is for training only.
            if stack == 1 and self.aux_logits and (train or self.is_initializing()):
                aux = AuxHead(self.num_classes, self.bn_epsilon, self.bn_momentum, name="aux")(x, train)
                if train:
                    taps["aux_logits"] = (aux,)
        x = taps["features"] = global_avg_pool(relu(x))
        x = Dropout(self.dropout)(x, train)
        return nn.Dense(self.num_classes, kernel_init=_KERNEL_INIT, name="classifier")(x), taps


register("nasnet_a_mobile", partial(NASNet, num_cells=4, penultimate_filters=1056, stem_filters=32),
         input_shape=(224, 224, 3), num_classes=1000,
         reference="Zoph et al. 2018, NASNet-A (4 @ 1056); TF-slim nasnet_mobile, Keras NASNetMobile")
register("nasnet_a_large", partial(NASNet, num_cells=6, penultimate_filters=4032, stem_filters=96,
                                   skip_reduction=True),
         input_shape=(331, 331, 3), num_classes=1000,
         reference="Zoph et al. 2018, NASNet-A (6 @ 4032); TF-slim nasnet_large, Keras NASNetLarge")
