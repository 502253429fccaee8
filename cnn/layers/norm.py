"""Normalisation and regularisation layers: local response normalisation, batch normalisation, dropout,
stochastic depth.

Inputs are channels-last, (N, *spatial, C) or (N, C).

Local response normalisation (AlexNet, Krizhevsky et al. 2012, §3.3) divides each activation by
the energy of its n neighbouring channels at the same position, clipped at the first and last
channel:

    b_i = a_i / (k + α Σ_{j = max(0, i − ⌊n/2⌋)}^{min(C − 1, i + ⌊n/2⌋)} a_j²)^β,
    AlexNet: k = 2, n = 5, α = 1e-4, β = 3/4.

α multiplies the plain sum, as in the paper and TensorFlow (tf.nn.local_response_normalization
with depth_radius = ⌊n/2⌋, bias = k). PyTorch's LocalResponseNorm and Caffe's LRN layer divide
their α by n, border windows included: their alpha is ours · size (the paper's layer is
torch.nn.LocalResponseNorm(5, alpha=5e-4, k=2)), and theirs with alpha a is ours with a / size.
Caffe's reference AlexNet (alpha = 1e-4, so α = 2e-5 here, and k = 1) is not the paper's layer.

Batch normalisation (Ioffe & Szegedy 2015) standardises every channel over the batch and the
spatial axes, then scales and shifts it with learned γ, β:

    y = γ (x − μ_B) / sqrt(σ²_B + ε) + β,   σ²_B = mean((x − μ_B)²),

σ²_B biased (divided by the M = N·H·W values per channel, not M − 1). Training uses the batch's
μ_B, σ²_B and updates running averages r ← m·r + (1 − m)·stat with momentum m; evaluation uses
the running averages, so an example's output does not depend on the rest of its batch.

Dropout (Srivastava et al. 2014) zeroes each unit with probability p in training and scales the
survivors by 1/(1 − p) ("inverted" dropout), so E[y] = x and evaluation is the identity.

Stochastic depth (Huang et al. 2016) is dropout of a whole residual branch per example: in training
sample n's branch f(x_n) is kept with probability 1 − p and scaled by 1/(1 − p), so the block
x + f(x) is the identity for the dropped samples and E[y] = f(x); evaluation is the identity. This
is torchvision's StochasticDepth(p, "row") and Keras's Dropout(p, noise_shape=(None, 1, 1, 1)).
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Initializer = Callable[..., jax.Array]


def local_response_norm(
    x: jax.Array, *, size: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75
) -> jax.Array:
    """AlexNet's LRN across the last axis: b_i = a_i / (k + α Σ_{|j − i| ≤ ⌊n/2⌋} a_j²)^β, n = size.

    The window is centred on channel i and clipped at the borders. α is not divided by n, unlike
    PyTorch's and Caffe's alpha, which equals our alpha · size.
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(
            f"local_response_norm size must be a positive odd number so the window is centred "
            f"(⌊size/2⌋ channels either side), got {size}; for TensorFlow's depth_radius r use size = 2r + 1"
        )
    squares = jnp.square(x)
    half = size // 2
    # Zero padding of the channel axis is the clipped window: absent channels add nothing. The
    # init value is a numpy constant so that, even under jit, lax sees a windowed sum it can
    # differentiate rather than a generic reduction it cannot.
    energy = lax.reduce_window(
        squares,
        np.zeros((), squares.dtype),
        lax.add,
        window_dimensions=(1,) * (x.ndim - 1) + (size,),
        window_strides=(1,) * x.ndim,
        padding=((0, 0),) * (x.ndim - 1) + ((half, half),),
    )
    return x * (k + alpha * energy) ** -beta


class LocalResponseNorm(nn.Module):
    """Local response normalisation layer (`local_response_norm`); no parameters."""

    size: int = 5
    k: float = 2.0
    alpha: float = 1e-4
    beta: float = 0.75

    def __call__(self, x: jax.Array) -> jax.Array:
        return local_response_norm(x, size=self.size, k=self.k, alpha=self.alpha, beta=self.beta)


class BatchNorm(nn.Module):
    """Batch normalisation y = γ (x − μ_B)/sqrt(σ²_B + ε) + β over every axis but the last.

    flax.linen.BatchNorm with use_running_average = not train. `train=True` normalises with the
    batch statistics and updates the "batch_stats" collection (pass mutable=["batch_stats"]):
    r ← momentum · r + (1 − momentum) · stat, starting from mean 0 and var 1; `model.init` does
    not update them. `train=False` normalises with the running averages.

    Conventions: momentum is the weight of the old average, so PyTorch's momentum p is our 1 − p
    (its default 0.1 is our 0.9; flax's own default is 0.99). The running variance averages the
    biased batch variance (the one it normalises with), where PyTorch averages the unbiased
    M/(M − 1) · σ²_B, M the count of values per channel. Variables are laid out as
    flax.linen.BatchNorm's: params {scale, bias}, batch_stats {mean, var}. A zero `scale_init` starts a
    residual branch as the identity (Goyal et al. 2017).
    """

    momentum: float = 0.9
    epsilon: float = 1e-5
    use_scale: bool = True
    use_bias: bool = True
    scale_init: Initializer = nn.initializers.ones_init()
    bias_init: Initializer = nn.initializers.zeros_init()

    def setup(self):
        self.norm = nn.BatchNorm(
            momentum=self.momentum,
            epsilon=self.epsilon,
            use_scale=self.use_scale,
            use_bias=self.use_bias,
            scale_init=self.scale_init,
            bias_init=self.bias_init,
        )
        # Keep flax's variable layout, not nested one level deeper under a child's name.
        nn.share_scope(self, self.norm)

    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        return self.norm(x, use_running_average=not train)


class Dropout(nn.Module):
    """Inverted dropout: y = m ⊙ x / (1 − rate), m_i ~ Bernoulli(1 − rate), in training; y = x at eval.

    The mask comes from the "dropout" rng stream (apply(..., rngs={"dropout": key})).
    """

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(
                f"{self.name}: dropout rate is the probability of dropping a unit, in [0, 1), got {self.rate}"
            )
        return nn.Dropout(self.rate)(x, deterministic=not train)


def _check_depth_rate(rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"stochastic depth rate is the probability of dropping a sample's branch, in [0, 1), "
                         f"got {rate}")


def stochastic_depth(x: jax.Array, rate: float, key: jax.Array) -> jax.Array:
    """y_n = m_n · x_n / (1 − rate), m_n ~ Bernoulli(1 − rate), one draw per sample (the leading axis).

    x is (N, ...), typically a residual branch's output; rate = 0 returns x unchanged.
    """
    _check_depth_rate(rate)
    if rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, (x.shape[0],) + (1,) * (x.ndim - 1))
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype))


class StochasticDepth(nn.Module):
    """`stochastic_depth` in training, the identity at evaluation; the per-sample draws come from the
    "dropout" rng stream (apply(..., rngs={"dropout": key})), as Dropout's masks do."""

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        _check_depth_rate(self.rate)
        if not train or self.rate == 0.0:
            return x
        return stochastic_depth(x, self.rate, self.make_rng("dropout"))
