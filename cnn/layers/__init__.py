"""Building blocks of CNNs: pure functions and the Flax modules built on them.

Everything is channels-last, (N, *spatial, C) with 1, 2 or 3 spatial axes. Each function's
docstring states the formula it computes; padding arithmetic and modes live in
`cnn.layers.padding`.
"""

from cnn.layers.activations import ACTIVATIONS, activation, relu, scaled_tanh, sigmoid, tanh
from cnn.layers.conv import (
    Conv,
    ConvTranspose,
    LocallyConnected2D,
    conv_transpose,
    convolve,
    correlate,
    locally_connected,
)
from cnn.layers.fastfood import AdaptiveFastfood, fwht
from cnn.layers.norm import (
    BatchNorm,
    Dropout,
    LocalResponseNorm,
    StochasticDepth,
    local_response_norm,
    stochastic_depth,
)
from cnn.layers.padding import BorderWarning, output_size, pad, same_padding, transposed_output_size
from cnn.layers.pooling import (
    adaptive_avg_pool,
    avg_pool,
    global_avg_pool,
    global_lp_pool,
    global_max_pool,
    lp_pool,
    max_pool,
    min_pool,
)

__all__ = [
    "correlate",
    "convolve",
    "conv_transpose",
    "locally_connected",
    "Conv",
    "ConvTranspose",
    "LocallyConnected2D",
    "fwht",
    "AdaptiveFastfood",
    "output_size",
    "transposed_output_size",
    "same_padding",
    "pad",
    "BorderWarning",
    "max_pool",
    "min_pool",
    "avg_pool",
    "adaptive_avg_pool",
    "lp_pool",
    "global_avg_pool",
    "global_max_pool",
    "global_lp_pool",
    "local_response_norm",
    "LocalResponseNorm",
    "BatchNorm",
    "Dropout",
    "stochastic_depth",
    "StochasticDepth",
    "sigmoid",
    "tanh",
    "relu",
    "scaled_tanh",
    "activation",
    "ACTIVATIONS",
]
