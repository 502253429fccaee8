"""Redraws a model's weights with a named scheme from the literature, to compare schemes on one model.

Kernels are the leaves with two or more dimensions, laid out (in, out) for Dense and
(...spatial..., in, out) for convolutions, so fan_in = prod(shape[:-1]) and
fan_out = prod(shape[:-2]) · shape[-1]. Schemes:

  default        the model's own initialisers (nothing is redrawn)
  gaussian       N(0, std²), AlexNet's 0.01 (Krizhevsky et al. 2012)
  xavier         U[-a, a], a = sqrt(6 / (fan_in + fan_out))   (Glorot & Bengio 2010)
  xavier_normal  N(0, 2 / (fan_in + fan_out))
  he             N(0, 2 / fan_in)                              (He et al. 2015)
  he_uniform     U[-a, a], a = sqrt(6 / fan_in)

The normal schemes are untruncated, as in the papers (jax's glorot_normal and he_normal
truncate at two standard deviations). Every scheme but "default" also zeroes the biases;
other leaves (normalisation scales, running statistics) keep their values.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.nn import initializers

from cnn.suggest import unknown

INITIALIZERS = ("default", "gaussian", "xavier", "xavier_normal", "he", "he_uniform")

# in_axis=-2, out_axis=-1 (jax's defaults) make variance_scaling's fans the ones above for HWIO kernels.
_VARIANCE_SCALING = {
    "xavier": initializers.variance_scaling(1.0, "fan_avg", "uniform"),
    "xavier_normal": initializers.variance_scaling(1.0, "fan_avg", "normal"),
    "he": initializers.variance_scaling(2.0, "fan_in", "normal"),
    "he_uniform": initializers.variance_scaling(2.0, "fan_in", "uniform"),
}


def reinitialize(params, key: jax.Array, name: str, std: float = 0.01):
    """`params` with every kernel redrawn by scheme `name` and every bias zeroed.

    Leaf i of the flattened tree draws from fold_in(key, i), so the result depends only on the
    key and the tree's structure, and no two kernels share a draw.
    """
    if name not in INITIALIZERS:
        raise ValueError(f"config.init.name: {unknown('initializer', name, INITIALIZERS)}")
    if name == "default":
        return params
    if name == "gaussian":
        if std <= 0:
            raise ValueError(f"config.init.std must be positive for the 'gaussian' initializer, got {std}")
        draw = initializers.normal(std)
    else:
        draw = _VARIANCE_SCALING[name]

    def redraw(index: int, path, leaf):
        if leaf.ndim >= 2:
            return draw(jax.random.fold_in(key, index), leaf.shape, leaf.dtype)
        if getattr(path[-1], "key", None) == "bias":
            return jnp.zeros_like(leaf)
        return leaf

    leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    return jax.tree_util.tree_unflatten(treedef, [redraw(i, path, leaf) for i, (path, leaf) in enumerate(leaves)])
