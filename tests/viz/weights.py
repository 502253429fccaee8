"""Random weights drawn by numpy for the visualisation tests: `model.init` compiles jax's random generator for
seconds on a CPU, and these tests only need weights of the right shapes that a forward pass keeps finite."""

import jax
import jax.numpy as jnp
import numpy as np


def random_variables(model, input_shape, seed=0):
    """LeCun-normal kernels (std 1/√fan-in), N(0, 0.1²) biases and batch means, unit BN scales, BN variances
    of 1 + |N(0, 0.1²)|."""
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, *input_shape)), train=False))
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name, noise = path[-1].key, rng.standard_normal(leaf.shape)
        value = {"bias": 0.1 * noise, "mean": 0.1 * noise, "scale": np.ones(leaf.shape),
                 "var": 1 + 0.1 * np.abs(noise)}.get(name, noise / np.sqrt(np.prod(leaf.shape[:-1])))
        return jnp.asarray(value, jnp.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)
