"""Two-stream ConvNets for action recognition (Simonyan & Zisserman, NIPS 2014): a spatial stream on one
RGB frame and a temporal stream on stacked optical flow, fused late by averaging their softmax scores.

Input: (N, 224, 224, 3 + 2L), channels [:3] the frame for the spatial stream, [3:] the 2L flow
channels for the temporal stream, L = `flow_frames` = 10 (§3.1, §6). The flow channels are
interleaved as the paper's eq. (1), I(u, v, 2k − 1) = d^x_k(u, v), I(u, v, 2k) = d^y_k(u, v): channel
3 + 2k holds frame k's horizontal displacement, 3 + 2k + 1 its vertical one (k = 0 … L − 1).
`stack_flow` builds them from L flow fields with the paper's mean flow subtraction.

Each stream is the paper's Fig. 1 net, CNN-M-2048 of Chatfield et al. 2014 (§5): conv1 96 7×7/2, ReLU,
LRN, max pool; conv2 256 5×5/2, ReLU, LRN (spatial stream only: §5 removes the temporal net's second
normalisation "to reduce memory consumption"), max pool; conv3, conv4, conv5 512 3×3/1, ReLU; max pool;
full6 4096, ReLU, dropout; full7 2048, ReLU, dropout; full8 num_classes (Fig. 1's "softmax"). As
checked against the paper: Fig. 1 labels the pools "2×2", §5 states 3×3 windows with stride 2 (the
"2×" is the downsampling), used here; LRN has Krizhevsky et al.'s settings (k = 2, n = 5, α = 1e-4,
β = 0.75, `LocalResponseNorm`'s defaults). The paper gives no paddings: CNN-M's are used (conv2 pads 1,
conv3–5 pad 1, conv1 none) with Caffe's ceil-mode pooling, so the maps are 109 → 54 → 26 → 13 → 13 →
6 and full6 reads CNN-M's 6×6×512 = 18432 values. Parameters per stream, hand count (C input channels,
K classes): conv1 96·(49C + 1), conv2 256·(25·96 + 1) = 614,656, conv3 512·(9·256 + 1) = 1,180,160,
conv4 and conv5 512·(9·512 + 1) = 2,359,808 each, full6 4096·(18432 + 1) = 75,501,568, full7
2048·(4096 + 1) = 8,390,656, full8 K·2049. At K = 101: spatial (C = 3, conv1 14,208) 90,627,813,
temporal (C = 20, conv1 94,176) 90,707,781; 181,335,594 in all.

Fusion: logits = log((softmax(s) + softmax(t))/2), so softmax(logits) is the average of the two
streams' class scores (the paper's "fusion by averaging"; its better fusion, a linear SVM on the
stacked L2-normalised scores, is not modelled), and the foundation's softmax cross-entropy on these
logits is −log of the averaged probability of the true class. Taps: "spatial_logits",
"temporal_logits", and each stream's layers as "spatial_conv1" … "temporal_full7"; "spatial_features"
and "temporal_features" are the full7 outputs each classifier reads.

Differences from the paper: it trains the streams separately (the spatial net pre-trained on ImageNet,
then fine-tuned or only its last layer trained; the temporal net from scratch, in its best form
multi-task on UCF-101 and HMDB-51 with one softmax per dataset) and fuses only at test time; training
this module end to end trains both streams through the fused score (train one stream alone from its
taps' logits). Dropout 0.9 after full6 and full7: Table 1 compares 0.5 with 0.9, and 0.9 is the
better; I recall that the temporal net also uses 0.9 but have not checked it. Weights start at
lecun_normal.
"""

from __future__ import annotations

import math
import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn.layers import BorderWarning, Conv, Dropout, LocalResponseNorm, max_pool, relu
from cnn.models.registry import register


def stack_flow(flows: jax.Array, subtract_mean: bool = True) -> jax.Array:
    """(..., L, H, W, 2) flow fields (d^x, d^y per pixel) → (..., H, W, 2L) temporal-stream input.

    Output channel 2k is frame k's d^x, 2k + 1 its d^y (eq. (1)). With `subtract_mean` each field
    first loses its mean displacement vector (§3.1, "mean flow subtraction": d − mean over pixels of
    d, per frame and component), a cheap compensation of camera motion.
    """
    if flows.ndim < 4 or flows.shape[-1] != 2:
        raise ValueError(f"stack_flow needs flow fields (..., L, H, W, 2), got shape {flows.shape}")
    if subtract_mean:
        flows = flows - jnp.mean(flows, axis=(-3, -2), keepdims=True)
    flows = jnp.moveaxis(flows, -4, -2)  # (..., H, W, L, 2): frame-major, x before y
    return flows.reshape(*flows.shape[:-2], 2 * flows.shape[-2])


def late_fusion(*logits: jax.Array) -> jax.Array:
    """log of the mean of the softmaxes of `logits`: log((1/m) Σ_i softmax(z_i)), in log space for stability."""
    log_probs = jnp.stack([jax.nn.log_softmax(z, axis=-1) for z in logits])
    return jax.nn.logsumexp(log_probs, axis=0) - math.log(len(logits))


def _pool(x: jax.Array) -> jax.Array:
    return max_pool(x, 3, 2, ceil_mode=True)


class CnnM2048(nn.Module):
    """One stream: CNN-M-2048 (see the module docstring); `conv2_norm` False is the temporal net."""

    num_classes: int
    conv2_norm: bool = True
    dropout: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> tuple[jax.Array, dict[str, jax.Array]]:
        taps = {}
        conv1 = Conv(96, (7, 7), stride=2, name="conv1")
        with warnings.catch_warnings():
            # At 224, (224 − 7)/2 + 1 = 109.5: conv1 never reads the last row and column, as in CNN-M (Caffe
            # rounds down too). That is the reference architecture, not a mistake to flag.
            warnings.simplefilter("ignore", BorderWarning)
            x = taps["conv1"] = relu(conv1(x))
        x = taps["norm1"] = LocalResponseNorm()(x)
        x = taps["pool1"] = _pool(x)
        x = taps["conv2"] = relu(Conv(256, (5, 5), stride=2, padding=1, name="conv2")(x))
        if self.conv2_norm:
            x = taps["norm2"] = LocalResponseNorm()(x)
        x = taps["pool2"] = _pool(x)
        for i in (3, 4, 5):
            x = taps[f"conv{i}"] = relu(Conv(512, (3, 3), padding=1, name=f"conv{i}")(x))
        x = taps["pool5"] = _pool(x)
        x = x.reshape(x.shape[0], -1)
        for name, width in (("full6", 4096), ("full7", 2048)):
            x = taps[name] = relu(nn.Dense(width, name=name)(x))
            x = Dropout(self.dropout)(x, train)
        taps["features"] = taps["full7"]
        return nn.Dense(self.num_classes, name="full8")(x), taps


class TwoStream(nn.Module):
    """Spatial and temporal CNN-M-2048 streams on x[..., :3] and x[..., 3:], fused by `late_fusion`."""

    num_classes: int = 101
    flow_frames: int = 10
    dropout: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        channels = 3 + 2 * self.flow_frames
        if x.shape[-1] != channels:
            raise ValueError(
                f"two_stream with flow_frames={self.flow_frames} takes 3 RGB + {2 * self.flow_frames} flow channels "
                f"= {channels}, got input {x.shape}; stack the flow with `stack_flow` or set flow_frames"
            )
        spatial, spatial_taps = CnnM2048(self.num_classes, True, self.dropout, name="spatial")(x[..., :3], train)
        temporal, temporal_taps = CnnM2048(self.num_classes, False, self.dropout, name="temporal")(x[..., 3:], train)
        taps = {**{f"spatial_{k}": v for k, v in spatial_taps.items()},
                **{f"temporal_{k}": v for k, v in temporal_taps.items()},
                "spatial_logits": spatial, "temporal_logits": temporal}
        return late_fusion(spatial, temporal), taps


register("two_stream", TwoStream, input_shape=(224, 224, 23), num_classes=101,
         reference="Simonyan & Zisserman 2014, Fig. 1 (CNN-M-2048 streams, L = 10, fusion by averaging)")
