"""Residual networks: ResNet (He et al. 2016), pre-activation ResNet (He et al. 2016b), ResNeXt (Xie et al.
2017), wide ResNets (Zagoruyko & Komodakis 2016) and the CIFAR ResNets of He et al. 2016 §4.2.

One `ResNet` module stacks residual blocks y = shortcut(x) + F(x); every registered name is a partial of it.

Blocks. `BasicBlock` (two 3×3) and `Bottleneck` (1×1 to `width`, 3×3 with `groups`, 1×1 to 4·planes, where
width = ⌊planes · base_width/64⌋ · groups: 64/1 is ResNet, 4/32 ResNeXt-32×4d, 128/1 wide_resnet50_2). In
the original ("v1", post-activation) order each convolution is followed by BN, then ReLU except after the
last, and ReLU follows the addition: y = relu(shortcut(x) + BN(conv(…relu(BN(conv(x)))))). The
pre-activation order ("v2", `preact`) moves BN-ReLU in front of every convolution and leaves the sum
alone: y = shortcut(x) + conv(relu(BN(…conv(relu(BN(x)))))), with one BN-ReLU after the last stage.
Shortcuts are the identity unless the shape changes; then option B (the default) is a 1×1 convolution
with the block's stride (+ BN in v1; in v2 it reads the pre-activated input and has no BN), option A
(`shortcut="A"`, the CIFAR nets) is parameter-free: every stride-th pixel, the new channels zero.
The stride sits in the 3×3 convolution ("ResNet v1.5", torchvision); `stride_in_1x1` puts it in the
first 1×1 (the paper's Caffe model, Keras ResNet50/101/152).

ImageNet nets. Stem: 7×7/2 convolution (pad 3) to 64 channels, BN, ReLU, 3×3/2 max pool (pad 1); four
stages of 64, 128, 256, 512 planes at strides 1, 2, 2, 2; global average pool; fully connected layer.
Parameters at 1000 classes are torchvision's exactly (hand count: each conv k²·C_in·C_out/groups, each BN
2·C, the FC (C + 1)·1000):

    resnet18  11,689,512    resnet50   25,557,032    resnext50_32x4d   25,028,904   wide_resnet50_2   68,883,240
    resnet34  21,797,672    resnet101  44,549,160    resnext101_32x8d  88,791,336   wide_resnet101_2 126,886,696
                            resnet152  60,192,808    resnext101_64x4d  83,455,272

Pre-activation nets (`resnet18_v2` … `resnet152_v2`) follow He et al.'s own code (fb.resnet.torch
preresnet): the stem keeps its BN-ReLU, so the first block of stage 1 skips its own pre-activation.
Each v1 block's output BN becomes the next block's pre-activation BN (the last one the final BN) and the
projections lose theirs, so a v2 net has v1's count less the projection BNs, 2·(128 + 256 + 512) =
1,792 (basic) or 2·(256 + 512 + 1024 + 2048) = 7,680 (bottleneck): resnet18_v2 11,687,720; resnet34_v2
21,795,880; resnet50_v2 25,549,352; resnet101_v2 44,541,480; resnet152_v2 60,185,128.

Keras's ResNet50V2/101V2/152V2 differ from the paper and are these nets with overrides: `stem_norm=False`
(the stem is a bare convolution and the first block pre-activates), `downsample="last"` (each stage's
stride sits in the LAST block of the stage before, whose shortcut subsamples x as a 1×1 max pool with
stride 2: option A with no channels to add), `pool_zero_padding=True` (Keras pads the stem's max pool
with zeros, not −∞: no different after a ReLU, different on v2's raw stem), `conv_bias=True` and
`bn_epsilon=1.001e-5`. Keras's ResNet50/101/152 (v1) are `stride_in_1x1=True, conv_bias=True,
bn_epsilon=1.001e-5`. `conv_bias` gives a convolution a bias where Keras does: every convolution in v1
(redundant before BN), in v2 those not followed by a BN (the stem, the projections and each branch's last
1×1). With these overrides our parameters plus BN statistics are Keras's count_params(): 25,636,712
(ResNet50), 44,707,176 (ResNet101), 60,419,944 (ResNet152), 25,613,800 (ResNet50V2), 44,675,560
(ResNet101V2), 60,380,648 (ResNet152V2).

CIFAR ResNets (§4.2; `resnet20_cifar` … `resnet110_cifar`, depth 6n + 2): 3×3 convolution to 16
channels, BN, ReLU; three stages of n basic blocks at 16, 32, 64 channels and strides 1, 2, 2 with
option-A shortcuts; global average pool; FC to 10 classes. Parameters: the stem 3·9·16 + 2·16 = 464,
stage 1 n·(2·9·16² + 4·16), stage 2 9·16·32 + (2n − 1)·9·32² + 2n·2·32, stage 3 likewise with 32 → 64,
FC 650: 269,722 (n = 3, the paper's 0.27M), 464,154 (0.46M), 658,586 (0.66M), 853,018 (0.85M) and
1,727,962 (n = 18, 1.7M).

Wide ResNets (WRN-d-k, `wrn28_10`, `wrn16_8`, `wrn40_4`): pre-activation basic blocks BN-ReLU-conv3×3-
BN-ReLU-dropout-conv3×3, a bare 3×3 stem to 16 channels, n = (d − 4)/6 blocks per stage at 16k, 32k,
64k channels and strides 1, 2, 2, a 1×1 projection (no BN) on the pre-activated input where the width
changes, final BN-ReLU, global average pool, FC to 10 classes. The convolutions have no biases, as in
the authors' PyTorch code. Parameters: 36,479,194 (WRN-28-10, the paper's 36.5M), 10,961,370 (WRN-16-8,
11.0M), 8,949,210 (WRN-40-4, 8.9M). `dropout` defaults to 0.0: the paper's plain WRN-d-k has none, and
its "-dropout" nets add 0.3 (`dropout=0.3`) between the two convolutions.

Initialisation is torchvision's for convolutions (He normal over fan_out) and BN (γ = 1, β = 0);
`zero_init_residual` zeroes the last BN's γ of each v1 block (Goyal et al. 2017). The FC layer keeps
flax's default (LeCun normal) rather than PyTorch's uniform.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn.layers import BatchNorm, Conv, Dropout, global_avg_pool, max_pool, pad, relu
from cnn.models.registry import register

_HE_FAN_OUT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
Taps = dict[str, jax.Array]


class ResidualBlock(nn.Module):
    """y = shortcut(x) + F(x), post- or pre-activation; subclasses list F's convolutions in `convs`.

    `features` is the block's output channels. `activated_input` (pre-activation only) skips the block's
    own BN-ReLU because its input already is one (a stem ending in BN-ReLU). `groups`, `base_width` and
    `stride_in_1x1` shape a Bottleneck; a BasicBlock refuses values other than the defaults.
    """

    features: int
    stride: int = 1
    preact: bool = False
    activated_input: bool = False
    shortcut: str = "B"
    groups: int = 1
    base_width: int = 64
    stride_in_1x1: bool = False
    dropout: float = 0.0
    zero_init_last: bool = False
    conv_bias: bool = False
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9

    expansion: ClassVar[int] = 1

    def convs(self) -> list[tuple[int, int, int, int]]:
        """F's convolutions in order, as (features, kernel size, stride, groups)."""
        raise NotImplementedError

    def _conv(self, x: jax.Array, features: int, kernel: int, stride: int, groups: int, bias: bool,
              name: str) -> jax.Array:
        return Conv(features, (kernel, kernel), stride=stride, padding=kernel // 2, groups=groups, use_bias=bias,
                    kernel_init=_HE_FAN_OUT, name=name)(x)

    def _bn(self, x: jax.Array, train: bool, name: str, zero: bool = False) -> jax.Array:
        scale_init = nn.initializers.zeros_init() if zero else nn.initializers.ones_init()
        return BatchNorm(momentum=self.bn_momentum, epsilon=self.bn_epsilon, scale_init=scale_init, name=name)(
            x, train)

    def _shortcut(self, x: jax.Array, source: jax.Array, train: bool) -> jax.Array:
        """Identity when the shape is kept, else option A (from x) or B (a projection of `source`)."""
        if x.shape[-1] == self.features and self.stride == 1:
            return x
        if self.shortcut == "A":
            extra = self.features - x.shape[-1]
            if extra < 0:
                raise ValueError(f"{self.name}: option-A shortcuts can add channels, not drop {-extra}")
            subsampled = x[:, :: self.stride, :: self.stride, :]
            return jnp.pad(subsampled, ((0, 0), (0, 0), (0, 0), (0, extra)))
        y = self._conv(source, self.features, 1, self.stride, 1, self.conv_bias, "shortcut_conv")
        return y if self.preact else self._bn(y, train, "shortcut_bn")

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.shortcut not in ("A", "B"):
            raise ValueError(f"{self.name}: shortcut is option 'A' (zero padding) or 'B' (projection), "
                             f"got {self.shortcut!r}")
        specs = self.convs()
        last = len(specs)
        if self.preact:
            if self.zero_init_last:
                raise ValueError(f"{self.name}: a pre-activation block ends in a convolution, not a BN, so it "
                                 "has no last γ to zero; zero_init_residual is for post-activation nets")
            y = x if self.activated_input else relu(self._bn(x, train, "preact_bn"))
            # The shortcut runs first: Keras lists the projection before the branch's same-shaped last 1×1.
            shortcut = self._shortcut(x, y, train)
            for i, (features, kernel, stride, groups) in enumerate(specs, start=1):
                if i > 1:
                    y = relu(self._bn(y, train, f"bn{i - 1}"))
                if i == last and self.dropout:
                    y = Dropout(self.dropout)(y, train)
                # Keras ResNetV2 gives a bias only to the convolution that no BN follows.
                y = self._conv(y, features, kernel, stride, groups, self.conv_bias and i == last, f"conv{i}")
            return shortcut + self._residual(y)
        shortcut = self._shortcut(x, x, train)
        y = x
        for i, (features, kernel, stride, groups) in enumerate(specs, start=1):
            if i == last and self.dropout:
                y = Dropout(self.dropout)(y, train)
            y = self._conv(y, features, kernel, stride, groups, self.conv_bias, f"conv{i}")
            y = self._bn(y, train, f"bn{i}", zero=self.zero_init_last and i == last)
            if i < last:
                y = relu(y)
        return relu(shortcut + self._residual(y))

    def _residual(self, y: jax.Array) -> jax.Array:
        """The branch's output F(x) just before the sum; a hook for blocks that rescale it (SENet)."""
        return y


class BasicBlock(ResidualBlock):
    """Two 3×3 convolutions, the first with the stride: 2·9·C² weights at C channels in and out."""

    def convs(self) -> list[tuple[int, int, int, int]]:
        if (self.groups, self.base_width, self.stride_in_1x1) != (1, 64, False):
            raise ValueError(f"{self.name}: groups, base_width and stride_in_1x1 shape a Bottleneck; a BasicBlock "
                             "has two plain 3×3 convolutions")
        return [(self.features, 3, self.stride, 1), (self.features, 3, 1, 1)]


class Bottleneck(ResidualBlock):
    """1×1 to width, 3×3 (grouped) at width, 1×1 to 4·planes; width = ⌊planes·base_width/64⌋·groups."""

    expansion: ClassVar[int] = 4

    def convs(self) -> list[tuple[int, int, int, int]]:
        planes = self.features // self.expansion
        width = int(planes * self.base_width / 64) * self.groups
        first, middle = (self.stride, 1) if self.stride_in_1x1 else (1, self.stride)
        return [(width, 1, first, 1), (width, 3, middle, self.groups), (self.features, 1, 1, 1)]


def _zero_padded_pool(x: jax.Array) -> jax.Array:
    """Keras's ZeroPadding2D(1) then MaxPooling2D(3, 2); a window reads the high side's pad only at odd sizes."""
    return max_pool(pad(x, [(1, n % 2) for n in x.shape[1:3]]), 3, 2)


def _block_strides(sizes: Sequence[int], strides: Sequence[int], downsample: str) -> list[list[int]]:
    """Each block's stride: a stage's stride on its first block, or ("last") on the previous stage's last."""
    if downsample not in ("first", "last"):
        raise ValueError(f"downsample is 'first' (the paper, torchvision) or 'last' (Keras ResNetV2), "
                         f"got {downsample!r}")
    out = [[1] * n for n in sizes]
    if downsample == "first":
        for stage, stride in zip(out, strides):
            stage[0] = stride
        return out
    if strides[0] != 1:
        raise ValueError(f"downsample='last' moves each stage's stride into the stage before, so the first "
                         f"stage's stride must be 1, got {strides[0]}")
    for stage, stride in zip(out, strides[1:]):
        stage[-1] = stride
    return out


class ResNet(nn.Module):
    """Stem, len(stage_sizes) stages of residual blocks, global average pool, FC (the module docstring).

    Stage s has `stage_sizes[s]` blocks with `stage_widths[s]` planes (outputs planes · block.expansion)
    and stride `stage_strides[s]`. Taps: "stem" (after the pool), "stage1", … (each stage's output; in a
    pre-activation net the raw sum), "features" (the pooled vector the FC layer reads).
    """

    num_classes: int = 1000
    block: type[ResidualBlock] = Bottleneck
    stage_sizes: Sequence[int] = (3, 4, 6, 3)
    stage_widths: Sequence[int] = (64, 128, 256, 512)
    stage_strides: Sequence[int] = (1, 2, 2, 2)
    groups: int = 1
    base_width: int = 64
    stride_in_1x1: bool = False  # True: the paper's v1 (Caffe, Keras); False: v1.5 (torchvision)
    preact: bool = False  # pre-activation blocks and a final BN-ReLU (He et al. 2016b)
    shortcut: str = "B"  # "B": 1×1 projection where the shape changes; "A": parameter-free (CIFAR)
    downsample: str = "first"  # "last": Keras ResNetV2's stride placement
    stem_width: int = 64
    stem_kernel: int = 7
    stem_stride: int = 2
    stem_pool: bool = True  # 3×3/2 max pool, padding 1
    stem_norm: bool = True  # BN-ReLU after the stem convolution (False: Keras ResNetV2, WRN)
    pool_zero_padding: bool = False  # Keras pads the stem pool with zeros
    dropout: float = 0.0  # before each block's last convolution (WRN: 0.3)
    zero_init_residual: bool = False
    conv_bias: bool = False  # Keras's biases (see the module docstring)
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, Taps]:
        if not len(self.stage_sizes) == len(self.stage_widths) == len(self.stage_strides):
            raise ValueError(f"ResNet needs one size, width and stride per stage, got {len(self.stage_sizes)} "
                             f"sizes, {len(self.stage_widths)} widths and {len(self.stage_strides)} strides")
        bn = partial(BatchNorm, momentum=self.bn_momentum, epsilon=self.bn_epsilon)
        taps = {}
        k = self.stem_kernel
        x = Conv(self.stem_width, (k, k), stride=self.stem_stride, padding=k // 2, kernel_init=_HE_FAN_OUT,
                 use_bias=self.conv_bias and not (self.preact and self.stem_norm), name="stem_conv")(x)
        if self.stem_norm:
            x = relu(bn(name="stem_bn")(x, train))
        if self.stem_pool:
            x = _zero_padded_pool(x) if self.pool_zero_padding else max_pool(x, 3, 2, 1)
        taps["stem"] = x
        block = partial(self.block, preact=self.preact, groups=self.groups, base_width=self.base_width,
                        stride_in_1x1=self.stride_in_1x1, dropout=self.dropout,
                        zero_init_last=self.zero_init_residual, conv_bias=self.conv_bias,
                        bn_epsilon=self.bn_epsilon, bn_momentum=self.bn_momentum)
        strides = _block_strides(self.stage_sizes, self.stage_strides, self.downsample)
        for s, (planes, stage_strides) in enumerate(zip(self.stage_widths, strides), start=1):
            for b, stride in enumerate(stage_strides, start=1):
                # A stride moved to the end of a stage keeps the width: Keras subsamples x, i.e. option A.
                shortcut = "A" if self.downsample == "last" and stride > 1 else self.shortcut
                x = block(planes * self.block.expansion, stride, shortcut=shortcut,
                          activated_input=self.preact and self.stem_norm and s == b == 1,
                          name=f"stage{s}_block{b}")(x, train)
            taps[f"stage{s}"] = x
        if self.preact:
            x = relu(bn(name="final_bn")(x, train))
        x = taps["features"] = global_avg_pool(x)
        return nn.Dense(self.num_classes, name="fc")(x), taps


def _imagenet(name: str, reference: str, block: type[ResidualBlock], sizes: Sequence[int], **fields) -> None:
    register(name, partial(ResNet, block=block, stage_sizes=tuple(sizes), **fields), input_shape=(224, 224, 3),
             num_classes=1000, reference=reference)


_DEPTHS = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3)),
           101: (Bottleneck, (3, 4, 23, 3)), 152: (Bottleneck, (3, 8, 36, 3))}
for _depth, (_block, _sizes) in _DEPTHS.items():
    _keras = f"; Keras ResNet{_depth} by overrides" if _depth >= 50 else ""
    _imagenet(f"resnet{_depth}", f"He et al. 2016; torchvision resnet{_depth}{_keras}", _block, _sizes)
    _keras = f"; Keras ResNet{_depth}V2 by overrides" if _depth >= 50 else ""
    _imagenet(f"resnet{_depth}_v2", f"He et al. 2016b (pre-activation), fb.resnet.torch preresnet{_keras}",
              _block, _sizes, preact=True)
_imagenet("resnext50_32x4d", "Xie et al. 2017; torchvision resnext50_32x4d", Bottleneck, (3, 4, 6, 3),
          groups=32, base_width=4)
_imagenet("resnext101_32x8d", "Xie et al. 2017; torchvision resnext101_32x8d", Bottleneck, (3, 4, 23, 3),
          groups=32, base_width=8)
_imagenet("resnext101_64x4d", "Xie et al. 2017; torchvision resnext101_64x4d", Bottleneck, (3, 4, 23, 3),
          groups=64, base_width=4)
_imagenet("wide_resnet50_2", "Zagoruyko & Komodakis 2016; torchvision wide_resnet50_2", Bottleneck, (3, 4, 6, 3),
          base_width=128)
_imagenet("wide_resnet101_2", "Zagoruyko & Komodakis 2016; torchvision wide_resnet101_2", Bottleneck,
          (3, 4, 23, 3), base_width=128)

_CIFAR = partial(ResNet, block=BasicBlock, stage_strides=(1, 2, 2), stem_width=16, stem_kernel=3, stem_stride=1,
                 stem_pool=False)
for _depth in (20, 32, 44, 56, 110):
    _n = (_depth - 2) // 6
    register(f"resnet{_depth}_cifar", partial(_CIFAR, stage_sizes=(_n,) * 3, stage_widths=(16, 32, 64),
                                              shortcut="A"),
             input_shape=(32, 32, 3), num_classes=10, reference=f"He et al. 2016 §4.2, ResNet-{_depth} (option A)")
for _depth, _k in ((28, 10), (16, 8), (40, 4)):
    _n = (_depth - 4) // 6
    register(f"wrn{_depth}_{_k}", partial(_CIFAR, stage_sizes=(_n,) * 3, stage_widths=(16 * _k, 32 * _k, 64 * _k),
                                          preact=True, stem_norm=False),
             input_shape=(32, 32, 3), num_classes=10, reference=f"Zagoruyko & Komodakis 2016, WRN-{_depth}-{_k}")
