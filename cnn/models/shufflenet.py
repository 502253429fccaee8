"""ShuffleNet v1 (Zhang et al. 2018) and ShuffleNet V2 (Ma et al. 2018, as torchvision's shufflenet_v2_x*).

Both stack cheap units on a stem (3×3/2 convolution to 24 channels, BN, ReLU, 3×3/2 max pool with padding 1,
56 × 56 at 224) in stages 2, 3, 4 of 4, 8, 4 units, the first of each at stride 2, then a global average and
an FC layer. `channel_shuffle` lets information cross channel groups: with C channels in g groups, output
channel j is input channel (j mod g)·C/g + ⌊j/g⌋ (reshape to (g, C/g), transpose, flatten).

v1 unit (the paper's Fig. 2b, c), C output channels, bottleneck m = C/4, group count g: 1×1 group conv to m
(BN, ReLU), shuffle, 3×3 depthwise (BN, stride s), 1×1 group conv (BN); at stride 1 y = ReLU(x + branch), at
stride 2 y = ReLU(concat(3×3/2 average pool of x, branch)) with the branch producing C − C_in channels, so
stage widths grow by concatenation. Stage 2's first 1×1 is not grouped (24 input channels are too few, §3.3);
it is still shuffled by g. Table 1's stage-2 widths at 1× are 144, 200, 240, 272, 384 for g = 1, 2, 3, 4, 8,
doubled per stage. Parameters of a unit on c channels to C (each conv k²·c_in·c_out/groups, each BN 2·c):
c·m/g₁ + 2m + 9m + 2m + m·C_b/g + 2C_b with C_b = C (stride 1) or C − c (stride 2), g₁ = 1 in stage 2's first
unit; stem 27·24 + 2·24, FC (C₄ + 1)·1000. In all, at 1000 classes: g1 1,531,936; g2 1,733,848; g3 1,865,728;
g4 1,968,344; g8 2,434,768 (the paper gives no counts). Its Table 1 gives the complexity, 143, 140, 137, 133,
137 M multiply-adds; the convolutions here cost 142.5, 140.0, 136.5, 133.3, 136.8 M MACs at 224, within 0.4%
(the FC adds 0.6-1.5 M, which Table 1 evidently leaves out).

Choices the paper leaves open follow the authors' later PyTorch release (megvii-model/ShuffleNet-Series):
the average pool pads by 1 and counts the padding, and the shortcut comes first in the concatenation. The
release differs in an FC without bias (1000 parameters) and in shuffling by the inverse permutation
(reshaping to (C/g, g)); ours is the paper's Fig. 1. `scale` s is the paper's "ShuffleNet s×": stage widths
become s·C rounded by `make_divisible` to a multiple of 4g (so m is divisible by g; 1× is Table 1 unchanged,
and so are the release's 0.5×, 1.5× and 2× widths for g = 3 and 8). The stem stays `stem_width` = 24, which
keeps C − 24 divisible by every g; the release's 0.5× nets use 12 (g = 3) and 16 (g = 8), its 2× nets 48:
pass `stem_width` for those, whose parameters and FLOPs then round to the release's table.

V2 unit (Ma et al. Fig. 3c, d; torchvision's InvertedResidual): at stride 1 the C channels are split in
halves; the first passes untouched, the second goes through 1×1 (BN, ReLU), 3×3 depthwise (BN), 1×1 (BN,
ReLU); the halves are concatenated and shuffled with g = 2. At stride 2 both branches read all c input
channels: "branch1" is 3×3 depthwise/2 (BN), 1×1 to C/2 (BN, ReLU); "branch2" is as above with the
depthwise at stride 2 and its first 1×1 from c to C/2. After stage 4 a 1×1 "conv5" (BN, ReLU) widens to
1024 (2048 at 2×). Stage widths: ×0.5 48, 96, 192; ×1.0 116, 232, 464; ×1.5 176, 352, 704; ×2.0 244, 488,
976. Parameters with h = C/2: a stride-1 unit 2·(h² + 2h) + 9h + 2h, a stride-2 unit from c
9c + 2c + c·h + 2h (branch1) + c·h + 2h + 9h + 2h + h² + 2h (branch2); stem 27·24 + 2·24, conv5
C₄·C₅ + 2C₅, FC (C₅ + 1)·1000: x0_5 1,366,792; x1_0 2,278,604; x1_5 3,503,624; x2_0 7,393,996,
torchvision's counts exactly. Every layer
runs in torchvision's state-dict order (branch1 before branch2), padding is PyTorch's (⌊k/2⌋), BN ε = 1e-5
and momentum 0.1 (our 0.9). Keras has no ShuffleNet.

Initialisation is the zoo's (He normal over fan-out for convolutions, BN γ = 1, β = 0, flax's LeCun normal
FC); torchvision sets none of its own. Taps: "stem" (after the max pool), "stage2", "stage3", "stage4",
"conv5" (V2) and "features", the pooled vector before the FC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn.layers import avg_pool, global_avg_pool, max_pool, relu
from cnn.layers.blocks import ConvBN, make_divisible
from cnn.models.registry import register

Taps = dict[str, jax.Array]


def channel_shuffle(x: jax.Array, groups: int) -> jax.Array:
    """(…, C) → (…, C) with output channel j = input channel (j mod g)·(C/g) + ⌊j/g⌋, g = `groups`: the
    channels viewed as (g, C/g) are transposed to (C/g, g) and flattened, so consecutive outputs come from
    different groups."""
    channels = x.shape[-1]
    if groups < 1 or channels % groups:
        raise ValueError(f"channel_shuffle: {groups} groups must divide the {channels} channels")
    lead = x.shape[:-1]
    return jnp.swapaxes(x.reshape(*lead, groups, channels // groups), -1, -2).reshape(*lead, channels)


def _stem(x: jax.Array, width: int, conv_bn: Callable[..., nn.Module], train: bool) -> jax.Array:
    """3×3/2 conv (pad 1), BN, ReLU, 3×3/2 max pool (pad 1): 224 → 56."""
    x = conv_bn(width, (3, 3), stride=2, padding=1, name="conv1")(x, train)
    return max_pool(x, 3, 2, 1)


class ShuffleUnit(nn.Module):
    """ShuffleNet v1 unit to `features` channels (see the module docstring); `first_groups` groups the first
    1×1 (1 in stage 2's first unit), `groups` the second and the shuffle."""

    features: int
    groups: int
    stride: int = 1
    first_groups: int | None = None  # None: `groups`
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv_bn = partial(ConvBN, bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum)
        channels = x.shape[-1]
        if self.stride == 1 and channels != self.features:
            raise ValueError(f"{self.name}: a stride-1 unit keeps its width, got {channels} → {self.features}")
        mid = self.features // 4
        y = conv_bn(mid, (1, 1), groups=self.first_groups or self.groups, name="pointwise1")(x, train)
        y = channel_shuffle(y, self.groups)
        y = conv_bn(mid, (3, 3), stride=self.stride, padding=1, groups=mid, activation=None,
                    name="depthwise")(y, train)
        branch = self.features - channels if self.stride > 1 else self.features
        y = conv_bn(branch, (1, 1), groups=self.groups, activation=None, name="pointwise2")(y, train)
        if self.stride == 1:
            return relu(x + y)
        return relu(jnp.concatenate([avg_pool(x, 3, self.stride, 1), y], axis=-1))


# Table 1: the stage-2 output width of ShuffleNet 1× for each group count g (stages 3 and 4 double it).
_V1_STAGE2_WIDTHS = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}


class ShuffleNetV1(nn.Module):
    """ShuffleNet v1 with `groups` g ∈ {1, 2, 3, 4, 8} and width `scale` (the paper's s×)."""

    num_classes: int = 1000
    groups: int = 3
    scale: float = 1.0
    stem_width: int = 24
    repeats: Sequence[int] = (4, 8, 4)
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, Taps]:
        if self.groups not in _V1_STAGE2_WIDTHS:
            raise ValueError(f"ShuffleNet v1 has groups {sorted(_V1_STAGE2_WIDTHS)} (Table 1), got {self.groups}")
        conv_bn = partial(ConvBN, bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum)
        taps = {}
        x = taps["stem"] = _stem(x, self.stem_width, conv_bn, train)
        for stage, n in enumerate(self.repeats, start=2):
            width = make_divisible(_V1_STAGE2_WIDTHS[self.groups] * 2 ** (stage - 2) * self.scale, 4 * self.groups)
            for i in range(n):
                x = ShuffleUnit(width, self.groups, 2 if i == 0 else 1,
                                first_groups=1 if stage == 2 and i == 0 else None, bn_epsilon=self.bn_epsilon,
                                bn_momentum=self.bn_momentum, name=f"stage{stage}_{i}")(x, train)
            taps[f"stage{stage}"] = x
        x = taps["features"] = global_avg_pool(x)
        return nn.Dense(self.num_classes, name="fc")(x), taps


class ShuffleV2Unit(nn.Module):
    """ShuffleNet V2 unit to `features` channels (torchvision's InvertedResidual; see the module docstring)."""

    features: int
    stride: int = 1
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        conv_bn = partial(ConvBN, bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum)
        half = self.features // 2
        channels = x.shape[-1]
        if self.stride == 1:
            if channels != 2 * half:
                raise ValueError(f"{self.name}: a stride-1 unit keeps its (even) width, got {channels} → "
                                 f"{self.features}")
            left, x = jnp.split(x, 2, axis=-1)
        else:  # branch1 runs first: torchvision's layer order, which weight importers pair by
            left = conv_bn(channels, (3, 3), stride=self.stride, padding=1, groups=channels, activation=None,
                           name="branch1_depthwise")(x, train)
            left = conv_bn(half, (1, 1), name="branch1_pointwise")(left, train)
        y = conv_bn(half, (1, 1), name="branch2_pointwise1")(x, train)
        y = conv_bn(half, (3, 3), stride=self.stride, padding=1, groups=half, activation=None,
                    name="branch2_depthwise")(y, train)
        y = conv_bn(half, (1, 1), name="branch2_pointwise2")(y, train)
        return channel_shuffle(jnp.concatenate([left, y], axis=-1), 2)


class ShuffleNetV2(nn.Module):
    """ShuffleNet V2 as torchvision's: `widths` are stages 2, 3, 4 and conv5."""

    num_classes: int = 1000
    widths: Sequence[int] = (116, 232, 464, 1024)
    repeats: Sequence[int] = (4, 8, 4)
    stem_width: int = 24
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, Taps]:
        conv_bn = partial(ConvBN, bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum)
        unit = partial(ShuffleV2Unit, bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum)
        taps = {}
        x = taps["stem"] = _stem(x, self.stem_width, conv_bn, train)
        for stage, (n, width) in enumerate(zip(self.repeats, self.widths[:3]), start=2):
            for i in range(n):
                x = unit(width, 2 if i == 0 else 1, name=f"stage{stage}_{i}")(x, train)
            taps[f"stage{stage}"] = x
        x = taps["conv5"] = conv_bn(self.widths[3], (1, 1), name="conv5")(x, train)
        x = taps["features"] = global_avg_pool(x)
        return nn.Dense(self.num_classes, name="fc")(x), taps


_IMAGENET = {"input_shape": (224, 224, 3), "num_classes": 1000}
for _g in _V1_STAGE2_WIDTHS:
    register(f"shufflenet_v1_g{_g}", partial(ShuffleNetV1, groups=_g), **_IMAGENET,
             reference=f"Zhang et al. 2018, ShuffleNet 1× (g = {_g}), Table 1")
for _suffix, _widths in (("x0_5", (48, 96, 192, 1024)), ("x1_0", (116, 232, 464, 1024)),
                         ("x1_5", (176, 352, 704, 1024)), ("x2_0", (244, 488, 976, 2048))):
    register(f"shufflenet_v2_{_suffix}", partial(ShuffleNetV2, widths=_widths), **_IMAGENET,
             reference=f"Ma et al. 2018; torchvision shufflenet_v2_{_suffix}")
