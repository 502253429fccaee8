"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998), the common modern variant.

Layer names follow the paper: C1 (6 maps 5×5), S2 (2×2 subsampling), C3 (16 maps 5×5),
S4, C5 (120 maps 5×5, a convolution that covers all of S4, i.e. fully connected),
F6 (84 units), then the output layer. The modern variant uses ReLU, max pooling, full
C3 connectivity and a linear softmax head; it has 61,706 parameters for 10 classes:
C1 6·(25+1)=156, C3 16·(6·25+1)=2,416, C5 120·(16·25+1)=48,120, F6 84·121=10,164,
output 10·85=850.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax

from cnn.layers import Conv, max_pool
from cnn.models.registry import register


class LeNet5(nn.Module):
    num_classes: int = 10
    activation: Callable[[jax.Array], jax.Array] = nn.relu
    # 2 turns a 28×28 image into the paper's 32×32 field; use 0 for 32×32 inputs.
    c1_padding: int = 2

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        taps = {}
        x = taps["c1"] = self.activation(Conv(6, (5, 5), padding=self.c1_padding, name="c1")(x))
        x = taps["s2"] = max_pool(x, 2)
        x = taps["c3"] = self.activation(Conv(16, (5, 5), name="c3")(x))
        x = taps["s4"] = max_pool(x, 2)
        if x.shape[1:3] != (5, 5):
            raise ValueError(
                f"LeNet-5's C5 needs 5×5 S4 maps, got {x.shape[1:3]} from input {taps['c1'].shape[1:3]} "
                f"after C1; feed 28×28 images with c1_padding=2 or 32×32 images with c1_padding=0"
            )
        x = taps["c5"] = self.activation(Conv(120, (5, 5), name="c5")(x))
        x = x.reshape(x.shape[0], -1)
        x = taps["f6"] = self.activation(nn.Dense(84, name="f6")(x))
        logits = nn.Dense(self.num_classes, name="output")(x)
        return logits, taps


register("lenet5", LeNet5, input_shape=(28, 28, 1), num_classes=10,
         reference="LeCun et al. 1998, modern variant (ReLU, max pooling, full C3)")
