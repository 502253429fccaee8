"""The fast Walsh–Hadamard transform and the Adaptive Fastfood layer (Deep Fried Convnets).

Fastfood (Le, Sarlós & Smola 2013) stands in for a dense d×d Gaussian matrix with the product

    V x = S H G Π H B x,    x ∈ R^d, d a power of 2,

of diagonal matrices B (random ±1), G (Gaussian) and S (scaling), a fixed random permutation Π
and the Walsh–Hadamard matrix H, applied in O(d log d) time with O(d) numbers stored. Yang et
al. 2015 ("Deep Fried Convnets") make it a layer: in the *Adaptive* Fastfood transform B, G and
S are parameters learned by backpropagation, initialised from Fastfood's distributions. A
layer with n outputs stacks ⌈n/d⌉ independent blocks V_1 … V_k (each with its own B, G, S, Π)
and keeps the first n rows; inputs shorter than d are zero-padded up to it. Parameters:
3d per block, plus the bias; a dense layer would need n·d_in.

H here is Sylvester's Hadamard matrix, H_1 = [1], H_2m = [[H_m, H_m], [H_m, −H_m]], entries ±1
(`scipy.linalg.hadamard`). `fwht` computes x ↦ H x unnormalised. The layer uses the orthonormal
H/√d for both of its transforms. Le et al. use the unnormalised H with a global factor instead,
V = (1/(σ√d)) S H G Π H B, and Yang et al. take their Fastfood from them (in the adaptive form that
constant is absorbed by the learned S). The two are the same family of functions, but with H/√d every
factor other than the diagonals is orthogonal, so activations and gradients keep their scale through
the two transforms whatever d is.

Initialisation (Le et al.'s): B_i = ±1 with equal odds, G_i ~ N(0, 1), S_i = s_i / ‖G‖_F with
s_i ~ χ_d. Row i of H G Π H B / d has norm ‖G‖_F/√d, so row i of V has norm s_i/√d: V's rows
have the norms of a matrix of independent N(0, 1/d) entries (Le et al. with σ = √d), i.e. the
scale of a LeCun-normal dense layer with fan-in d.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.dtypes import promote_dtype

Initializer = Callable[..., jax.Array]


def is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def padded_size(n: int) -> int:
    """The smallest power of 2 that is at least n (n >= 1)."""
    return 1 << (n - 1).bit_length()


# Jitted so that an eager call compiles once rather than each of its 5 log₂ d small operations.
@jax.jit
def fwht(x: jax.Array) -> jax.Array:
    """The Walsh–Hadamard transform y = H x along the last axis (length d, a power of 2), unnormalised.

    H is Sylvester's ±1 matrix (symmetric, H H = d I, so fwht(fwht(x)) = d x). Computed as log₂ d
    butterflies: at stride h the pairs (a, b) of entries h apart become (a + b, a − b), each
    stage a reshape to (..., d/2h, 2, h); d log₂ d additions, no d×d matrix.
    """
    d = x.shape[-1]
    if not is_power_of_two(d):
        raise ValueError(
            f"fwht needs a power-of-2 length along the last axis, got {d}; zero-pad it to {padded_size(max(d, 1))}"
        )
    batch = x.shape[:-1]
    h = 1
    while h < d:
        pairs = x.reshape(*batch, d // (2 * h), 2, h)
        a, b = pairs[..., 0, :], pairs[..., 1, :]
        x = jnp.stack([a + b, a - b], axis=-2).reshape(*batch, d)
        h *= 2
    return x


def fastfood_permutations(seed: int, blocks: int, d: int) -> np.ndarray:
    """(blocks, d) int32: row j is block j's Π as indices, (Π v)_i = v[perm[j, i]].

    Drawn by numpy from (seed, j): the same on every host, in every process and at every restore.
    """
    return np.stack([np.random.default_rng([seed, j]).permutation(d) for j in range(blocks)]).astype(np.int32)


def _rademacher(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    return jax.random.rademacher(key, shape, dtype)


class AdaptiveFastfood(nn.Module):
    """y = (V_1 x; …; V_k x)[:features] + bias, V_j = S_j (H/√d) G_j Π_j (H/√d) B_j, x zero-padded to d.

    x is (..., d_in); d = the smallest power of 2 >= d_in, k = ⌈features/d⌉. Parameters "B",
    "G", "S" hold the k blocks' diagonals end to end, shape (k·d,) each, and "bias" (features,):
    3kd + features in all. The diagonals are vectors on purpose: the zoo's kernel-only rules
    (`cnn.models.init`'s redraws, the optimizer's weight decay) treat leaves with two or more axes
    as kernels, and a diagonal is not one.

    Π is not a variable. The train state carries only "params" and "batch_stats", so a constant
    stored in another collection would be lost by the training loop and its checkpoints; instead
    `fastfood_permutations(seed, k, d)` redraws it identically on every trace, as a compile-time
    constant that cannot be trained, decayed or go missing. Layers meant to differ need
    different seeds.
    """

    features: int
    seed: int = 0
    use_bias: bool = True
    bias_init: Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.features < 1:
            raise ValueError(f"{self.name}: features must be at least 1, got {self.features}")
        d = padded_size(x.shape[-1])
        blocks = -(-self.features // d)
        b = self.param("B", _rademacher, (blocks * d,))
        g = self.param("G", nn.initializers.normal(1.0), (blocks * d,))

        def chi_over_norm_g(key, shape, dtype=jnp.float32):
            chi = jnp.sqrt(jax.random.chisquare(key, d, shape, dtype))
            return chi / jnp.repeat(jnp.linalg.norm(g.reshape(blocks, d), axis=1), d).astype(dtype)

        s = self.param("S", chi_over_norm_g, (blocks * d,))
        x, b, g, s = promote_dtype(x, b, g, s)
        batch = x.shape[:-1]
        x = jnp.pad(x, [(0, 0)] * len(batch) + [(0, d - x.shape[-1])])
        inverse_root = 1 / math.sqrt(d)
        v = fwht(x[..., None, :] * b.reshape(blocks, d)) * inverse_root
        # Block j's permutation, offset by j·d, gathers within that block of the flattened vector.
        flat = (fastfood_permutations(self.seed, blocks, d) + d * np.arange(blocks)[:, None]).reshape(-1)
        v = v.reshape(*batch, blocks * d)[..., flat] * g
        v = fwht(v.reshape(*batch, blocks, d)) * inverse_root
        y = (v.reshape(*batch, blocks * d) * s)[..., : self.features]
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,)).astype(y.dtype)
        return y
