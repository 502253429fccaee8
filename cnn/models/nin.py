"""Network in Network (Lin, Chen & Yan 2014) for CIFAR-10, as the authors' released Caffe model.

Three mlpconv blocks, each a k×k convolution followed by two 1×1 convolutions (the "cascaded
cross-channel parametric pooling" layers, Caffe's cccp), ReLU after every one, and no fully
connected layer: the last block has one map per class and global average pooling turns the maps
into the logits. On 32×32×3:

    conv1 192 5×5 pad 2, cccp1 160, cccp2 96    → 32×32×96   mlpconv1
    max pool 3×3/2 (ceil mode), dropout 0.5      → 16×16×96   pool1
    conv2 192 5×5 pad 2, cccp3 192, cccp4 192   → 16×16×192  mlpconv2
    avg pool 3×3/2 (ceil mode), dropout 0.5      → 8×8×192    pool2
    conv3 192 3×3 pad 1, cccp5 192, cccp6 10    → 8×8×10     mlpconv3
    global average pool                          → 10         logits

Caffe sizes a pooling output ceil((n − k)/s) + 1 (32 → 16, 16 → 8, where rounding down gives 15
and 7): the pools use `ceil_mode`, whose last window runs past the map; max pooling never picks
those positions and average pooling leaves them out of its divisor, as Caffe's averages over the
part of the window inside the map. As in the Caffe
model, cccp6 has a ReLU too, so the logits are non-negative.

Parameters, hand count: conv1 192·(25·3+1) = 14,592, cccp1 160·(192+1) = 30,880,
cccp2 96·(160+1) = 15,456, conv2 192·(25·96+1) = 460,992, cccp3 and cccp4 192·(192+1) = 37,056
each, conv3 192·(9·192+1) = 331,968, cccp5 37,056, cccp6 10·(192+1) = 1,930: 966,986 in all.
Not modelled: the data's global contrast normalisation and ZCA whitening, and the Caffe model's
initialisation (Gaussian, std 0.05 and 0.01).
"""

from __future__ import annotations

import flax.linen as nn
import jax

from cnn.layers import Conv, Dropout, avg_pool, global_avg_pool, max_pool, relu
from cnn.models.registry import register


class NiN(nn.Module):
    """NIN for CIFAR-10; `num_classes` sets cccp6's width, i.e. the number of maps averaged into logits."""

    num_classes: int = 10
    dropout: float = 0.5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        # (kernel, padding, widths, Caffe names) per mlpconv block.
        blocks = (
            (5, 2, (192, 160, 96), ("conv1", "cccp1", "cccp2")),
            (5, 2, (192, 192, 192), ("conv2", "cccp3", "cccp4")),
            (3, 1, (192, 192, self.num_classes), ("conv3", "cccp5", "cccp6")),
        )
        taps = {}
        for i, (kernel, padding, widths, names) in enumerate(blocks, 1):
            if i > 1:
                # Between blocks: pool1 takes the max, pool2 the average, both followed by dropout.
                pool = max_pool if i == 2 else avg_pool
                pooled = pool(x, 3, 2, ceil_mode=True)
                x = taps[f"pool{i - 1}"] = pooled
                x = Dropout(self.dropout)(x, train)
            x = relu(Conv(widths[0], (kernel, kernel), padding=padding, name=names[0])(x))
            for width, name in zip(widths[1:], names[1:]):
                x = relu(Conv(width, (1, 1), name=name)(x))
            taps[f"mlpconv{i}"] = x
        return global_avg_pool(x), taps


register("nin_cifar", NiN, input_shape=(32, 32, 3), num_classes=10,
         reference="Lin, Chen & Yan 2014; the authors' CIFAR-10 Caffe model (cifar10_nin)")
