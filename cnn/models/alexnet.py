"""AlexNet (Krizhevsky, Sutskever & Hinton 2012) in torchvision's and the paper's forms, and ZFNet
(Zeiler & Fergus 2013): five convolutions with ReLU, then three fully connected layers.

One module, `AlexNet`, runs a tuple of `Stage`s (a convolution, its ReLU, then local response
normalisation and/or 3×3/2 max pooling in the stated order) and the classifier
[Dropout] FC 4096 ReLU [Dropout] FC 4096 ReLU FC num_classes. Parameters are named conv1 … conv5,
fc6, fc7, fc8; taps: conv{i} (after the ReLU), norm{i}, pool{i}, avgpool (torchvision), fc6, fc7.

`alexnet`, torchvision's single-tower AlexNet (after Krizhevsky's "One weird trick", 2014), 224×224:
conv 64 11×11/4 pad 2, pool; 192 5×5 pad 2, pool; 384, 256, 256 3×3 pad 1, pool; adaptive
average pooling to 6×6 (the identity at 224, it lets other sizes reach the 9216-wide fc6);
dropout before fc6 and fc7. Parameters, hand count: convolutions 64·(11²·3+1) = 23,296,
192·(25·64+1) = 307,392, 384·(9·192+1) = 663,936, 256·(9·384+1) = 884,992, 256·(9·256+1) = 590,080
(2,469,696); fully connected 4096·(9216+1) = 37,752,832, 4096·4097 = 16,781,312,
1000·4097 = 4,097,000 (58,631,144); 61,100,840 in all, torchvision's count.

`alexnet_2012`, the paper's two-tower network at 227×227 (the paper's "224" does not give its
55×55 maps): conv1 96 11×11/4, ReLU, LRN, pool → 55×55×96, 27×27×96; conv2 256 5×5 pad 2 in two
groups (each tower sees its own 48 maps), ReLU, LRN, pool → 27×27×256, 13×13×256; conv3 384 3×3
pad 1 across both towers; conv4 384 and conv5 256, 3×3 pad 1, two groups; pool → 6×6×256; fc6,
fc7 4096 with dropout 0.5 after their ReLU; fc8. LRN is the paper's (k = 2, n = 5, α = 1e-4,
β = 0.75, `cnn.layers.LocalResponseNorm`), placed before the pooling as in the paper (Caffe's
reference "CaffeNet" swaps the two). Parameters: 96·(11²·3+1) = 34,944, 256·(25·48+1) = 307,456,
384·(9·256+1) = 885,120, 384·(9·192+1) = 663,936, 256·(9·192+1) = 442,624 (2,334,080), plus the
same 58,631,144 fully connected: 60,965,224.

`zfnet`, Zeiler & Fergus's Fig. 3 network at 224×224: conv1 96 7×7/2, ReLU, pool 3×3/2,
contrast normalisation → 110×110×96, 55×55×96; conv2 256 5×5/2, ReLU, pool, norm → 26×26×256,
13×13×256; conv3 384, conv4 384, conv5 256, 3×3/1 (dense, where AlexNet's were split) → 13×13;
pool → 6×6×256; fc6, fc7 4096, dropout 0.5; fc8. The paper states no paddings; these reproduce
its figure: conv1 pads 1 on every side ((224 + 2 − 7)/2 + 1 = 110, rounding down), pool1 and
pool2 pad one row and column at the end (Caffe's ceil mode: 110 → 55, 26 → 13), conv2 none,
conv3–5 pad 1, pool5 none (13 → 6). Its "contrast normalization" across feature maps is taken
to be AlexNet's LRN with the same constants. Parameters: 96·(49·3+1) = 14,208,
256·(25·96+1) = 614,656, 384·(9·256+1) = 885,120, 384·(9·384+1) = 1,327,488,
256·(9·384+1) = 884,992 (3,726,464), plus 58,631,144: 62,357,608.

`alexnet_small`, the 2012 layout for 28×28 single-channel images (Fashion-MNIST, this project's; the
Fashion-MNIST benchmark table lists an AlexNet only under a triplet loss): the same five convolutions,
LRN and overlapping 3×3/2 pooling after conv1 and conv2 (in Caffe's ceil mode, so 28 and 14 halve
exactly) and pooling after conv5, at a third of the width and without towers, and a 256-256 classifier
with dropout 0.5 after each ReLU: conv1 32 5×5 pad 2, conv2 64 5×5 pad 2, conv3 96, conv4 96, conv5 64
3×3 pad 1 → maps of 28, 14, 7, 7, 7 and, pooled, 3 pixels. Parameters: 32·(25·1+1) = 832,
64·(25·32+1) = 51,264, 96·(9·64+1) = 55,392, 96·(9·96+1) = 83,040, 64·(9·96+1) = 55,360 (245,888);
256·(576+1) = 147,712, 256·257 = 65,792, 10·257 = 2,570 (216,074): 461,962. About 20 M multiply-adds
per image, fifty times LeNet-5's.

Differences from the references: fc6 reads the pooled maps flattened in (H, W, C) order where
torchvision flattens (C, H, W) (importing its weights permutes fc6's rows); weights start at
lecun_normal, not torchvision's uniform nor the papers' N(0, 0.01²) with biases at 1 (see
`cnn.models.init`); ZFNet's renormalisation of filters whose RMS exceeds 0.1 is a training step,
not modelled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import flax.linen as nn
import jax

from cnn.layers import Conv, Dropout, LocalResponseNorm, adaptive_avg_pool, max_pool, relu
from cnn.layers.padding import Padding
from cnn.models.registry import register

_AFTER = ("norm", "pool")
_CAFFE_CEIL = ((0, 1), (0, 1))  # one extra row and column at the end, as Caffe's ceil-mode pooling


class Stage(NamedTuple):
    """A convolution with ReLU, then `after` in order: "norm" (LRN) and/or "pool" (3×3/2 max)."""

    features: int
    kernel: int
    stride: int = 1
    padding: Padding = 0
    groups: int = 1
    after: tuple[str, ...] = ()
    pool_padding: Padding = 0


TORCHVISION = (
    Stage(64, 11, 4, 2, after=("pool",)),
    Stage(192, 5, padding=2, after=("pool",)),
    Stage(384, 3, padding=1),
    Stage(256, 3, padding=1),
    Stage(256, 3, padding=1, after=("pool",)),
)
KRIZHEVSKY_2012 = (
    Stage(96, 11, 4, after=("norm", "pool")),
    Stage(256, 5, padding=2, groups=2, after=("norm", "pool")),
    Stage(384, 3, padding=1),
    Stage(384, 3, padding=1, groups=2),
    Stage(256, 3, padding=1, groups=2, after=("pool",)),
)
ZEILER_FERGUS = (
    Stage(96, 7, 2, padding=1, after=("pool", "norm"), pool_padding=_CAFFE_CEIL),
    Stage(256, 5, 2, after=("pool", "norm"), pool_padding=_CAFFE_CEIL),
    Stage(384, 3, padding=1),
    Stage(384, 3, padding=1),
    Stage(256, 3, padding=1, after=("pool",)),
)

SMALL = (
    Stage(32, 5, padding=2, after=("norm", "pool"), pool_padding=_CAFFE_CEIL),
    Stage(64, 5, padding=2, after=("norm", "pool"), pool_padding=_CAFFE_CEIL),
    Stage(96, 3, padding=1),
    Stage(96, 3, padding=1),
    Stage(64, 3, padding=1, after=("pool",)),
)


def conv_stages(x: jax.Array, taps: dict[str, jax.Array], stages: Sequence[Stage],
                norm: Callable[[], nn.Module] = LocalResponseNorm) -> jax.Array:
    """The convolutions of `stages` (conv1, conv2, …), each with ReLU and its `after` ops; `norm` builds the
    LRN (Caffe's reference net uses other constants). Called inside a compact method: the layers it
    creates are the caller's."""
    for i, stage in enumerate(stages, 1):
        conv = Conv(stage.features, (stage.kernel, stage.kernel), stride=stage.stride, padding=stage.padding,
                    groups=stage.groups, name=f"conv{i}")
        x = taps[f"conv{i}"] = relu(conv(x))
        for op in stage.after:
            if op not in _AFTER:
                raise ValueError(f"conv{i}: a stage is followed by {' or '.join(_AFTER)}, got {op!r}")
            if op == "norm":
                x = taps[f"norm{i}"] = norm()(x)
            else:
                x = taps[f"pool{i}"] = max_pool(x, 3, 2, stage.pool_padding)
    return x


class AlexNet(nn.Module):
    """AlexNet-style network: `stages`, then [adaptive average pool], flatten and the classifier.

    `dropout_before_dense`: torchvision drops fc6's and fc7's inputs; the papers (and Caffe) drop
    their outputs, after the ReLU. `adaptive_pool` None flattens the last map as it is.
    """

    num_classes: int = 1000
    stages: tuple[Stage, ...] = TORCHVISION
    adaptive_pool: int | None = 6
    hidden: int = 4096
    dropout: float = 0.5
    dropout_before_dense: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        taps = {}
        x = conv_stages(x, taps, self.stages)
        if self.adaptive_pool is not None:
            x = taps["avgpool"] = adaptive_avg_pool(x, (self.adaptive_pool, self.adaptive_pool))
        x = x.reshape(x.shape[0], -1)
        for name in ("fc6", "fc7"):
            if self.dropout_before_dense:
                x = Dropout(self.dropout)(x, train)
            x = taps[name] = relu(nn.Dense(self.hidden, name=name)(x))
            if not self.dropout_before_dense:
                x = Dropout(self.dropout)(x, train)
        return nn.Dense(self.num_classes, name="fc8")(x), taps


register("alexnet", AlexNet, input_shape=(224, 224, 3), num_classes=1000,
         reference="Krizhevsky 2014 (one weird trick); torchvision alexnet")
register("alexnet_2012", partial(AlexNet, stages=KRIZHEVSKY_2012, adaptive_pool=None, dropout_before_dense=False),
         input_shape=(227, 227, 3), num_classes=1000, reference="Krizhevsky, Sutskever & Hinton 2012, two towers")
register("zfnet", partial(AlexNet, stages=ZEILER_FERGUS, adaptive_pool=None, dropout_before_dense=False),
         input_shape=(224, 224, 3), num_classes=1000, reference="Zeiler & Fergus 2013, Fig. 3")
register("alexnet_small", partial(AlexNet, stages=SMALL, adaptive_pool=None, hidden=256, dropout_before_dense=False),
         input_shape=(28, 28, 1), num_classes=10, reference="Krizhevsky et al. 2012's layout at a third of the width, "
         "for 28×28 inputs")
