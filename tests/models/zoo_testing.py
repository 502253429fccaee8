"""Helpers shared by the zoo's model tests: parameter counts, numpy-drawn variables, one real or
abstract training step."""

from __future__ import annotations

from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import optax

import cnn.models

# Each graph below is compiled once and run once: XLA's CPU optimisations would cost more than they save.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True,
                "xla_cpu_use_fusion_emitters": False}


@cache
def abstract(name, size, batch=1, num_classes=1000, channels=None, **overrides):
    """(model, variables as shapes, zero input); cached, as the count and the pass at 224 share it. The input
    has the registered model's channels (3, or 1 for Fashion-MNIST nets, 23 for two_stream) unless given."""
    model = cnn.models.create(name, num_classes=num_classes, **overrides)
    x = np.zeros((batch, size, size, channels or cnn.models.spec(name).input_shape[-1]), np.float32)
    return model, jax.eval_shape(model.init, jax.random.key(0), x), x


def conv(k, c_in, c_out, groups=1):
    """Parameters of a k×k convolution with bias (the hand counts' unit)."""
    return k * k * c_in // groups * c_out + c_out


def dense(n_in, n_out):
    """Parameters of a fully connected layer with bias."""
    return n_in * n_out + n_out


def count(variables):
    return sum(leaf.size for leaf in jax.tree.leaves(variables["params"]))


def random_variables(variables_shapes):
    """Variables drawn in numpy: He-normal kernels, biases (BN's β too) N(0, 0.1²), BN γ = 1, mean 0, var 1
    (jitting model.init would compile every layer's random draw, slower than the pass it feeds). Non-zero
    β keeps a batch norm over one value per channel (an auxiliary head's 1×1 map at batch 1) from
    zeroing everything after it."""
    rng = np.random.default_rng(0)

    def draw(path, leaf):
        name = path[-1].key
        if name == "kernel":
            return rng.normal(0, np.sqrt(2 / np.prod(leaf.shape[:-1])), leaf.shape).astype(leaf.dtype)
        if name == "bias":
            return rng.normal(0, 0.1, leaf.shape).astype(leaf.dtype)
        return np.full(leaf.shape, 1.0 if name in ("scale", "var") else 0.0, leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, variables_shapes)


def real_step(model, variables, x):
    """One training-mode forward and backward: (loss, taps, new batch_stats ({} without BN), grads).
    Auxiliary classifiers' cross-entropies join the loss with weight 0.3, as in the train step."""
    labels = jnp.arange(x.shape[0]) % 10

    def cross_entropy(logits):
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    def loss(params):
        (logits, taps), updates = model.apply({**variables, "params": params}, x, train=True,
                                              mutable=["batch_stats"], rngs={"dropout": jax.random.key(2)})
        aux = sum(cross_entropy(a) for a in taps.get("aux_logits", ()))
        return cross_entropy(logits) + 0.3 * aux, (taps, updates)

    step = jax.jit(jax.value_and_grad(loss, has_aux=True), compiler_options=FAST_COMPILE)
    (value, (taps, updates)), grads = step(variables["params"])
    return value, taps, updates.get("batch_stats", {}), grads


def norm(tree) -> float:
    """The l2 norm of all leaves, in numpy (eagerly, jax would compile a reduction for every leaf shape)."""
    return float(np.sqrt(sum(np.sum(np.square(np.asarray(leaf, np.float64))) for leaf in jax.tree.leaves(tree))))


def random_input(shape):
    return np.random.default_rng(1).normal(size=shape).astype(np.float32)


def abstract_grads(model, variables, x):
    """(grads, (logits, taps)) of a training-mode pass, as shapes: traced, never compiled or run."""
    def loss(params, state):
        (logits, taps), _ = model.apply({**state, "params": params}, x, train=True, mutable=["batch_stats"],
                                        rngs={"dropout": jax.random.key(1)})
        return jnp.mean(logits ** 2), (logits, taps)

    state = {k: v for k, v in variables.items() if k != "params"}
    return jax.eval_shape(jax.grad(loss, has_aux=True), variables["params"], state)
