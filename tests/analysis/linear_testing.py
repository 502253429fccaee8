"""Linear versions of zoo models, for checking the receptive-field tracer against autodiff.

The model's own traced program is evaluated with its non-linearities taken out: max pooling becomes sum
pooling, max(x, c) and min(x, c) with a constant c become x (ReLU, ReLU6). With every weight positive
the result is a positive linear map, so the gradient of a unit is non-zero exactly on the input pixels
the unit depends on: the support autodiff finds is an independent measure of the receptive field. The
rules here touch no receptive-field arithmetic; every other operation runs as the model runs it.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Literal

from cnn.analysis.effective_field import layer_output


def _eval(jaxpr, consts, args, dependent):
    env, dep = {}, {}

    def read(v):
        return (v.val, False) if isinstance(v, Literal) else (env[v], dep[v])

    for var, value in zip(jaxpr.constvars, consts):
        env[var], dep[var] = value, False
    for var, value, d in zip(jaxpr.invars, args, dependent):
        env[var], dep[var] = value, d
    for eqn in jaxpr.eqns:
        invals, deps = zip(*map(read, eqn.invars)) if eqn.invars else ((), ())
        name = eqn.primitive.name
        inner = next((eqn.params[k] for k in ("jaxpr", "call_jaxpr") if k in eqn.params), None)
        if inner is not None:
            outs, out_deps = _eval(inner.jaxpr, inner.consts, invals, deps)
        elif name == "reduce_window_max":
            outs = [lax.reduce_window_sum_p.bind(invals[0], **eqn.params)]
            out_deps = [deps[0]]
        elif name in ("max", "min") and deps[0] != deps[1]:
            outs, out_deps = [invals[0] if deps[0] else invals[1]], [True]
        elif name in ("max", "min") and all(deps):
            outs, out_deps = [invals[0] + invals[1]], [True]
        else:
            outs = eqn.primitive.bind(*invals, **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
            out_deps = [any(deps)] * len(outs)
        for var, value, d in zip(eqn.outvars, outs, out_deps):
            env[var], dep[var] = value, d
    return [read(v)[0] for v in jaxpr.outvars], [read(v)[1] for v in jaxpr.outvars]


def positive_variables(variables, seed: int = 0):
    """|N(0, 1)| weights with each kernel's output unit summing to one, so signals neither vanish nor blow up."""
    leaves, tree = jax.tree_util.tree_flatten_with_path(variables)
    rng = np.random.default_rng(seed)  # numpy: a jax.random call per leaf would compile once per shape
    out = []
    for path, leaf in leaves:
        value = np.abs(rng.standard_normal(leaf.shape)) + 0.5
        if getattr(path[-1], "key", None) == "kernel" and leaf.ndim > 1:
            value = value / value.sum(axis=tuple(range(leaf.ndim - 1)), keepdims=True)
        out.append(jnp.asarray(value, jnp.float64))
    return jax.tree_util.tree_unflatten(tree, out)


def gradient_support(model: nn.Module, input_shape: tuple[int, ...], layer: str,
                     units: list[tuple[int, ...]]) -> list[tuple[tuple[int, int], ...]]:
    """Per unit of `layer`: (first, last) input pixel per spatial axis on which it depends in the linear model.

    Run under `jax.enable_x64()`: the far corners of a deep field carry products of many small weights.
    """
    x = jnp.ones((1, *input_shape), jnp.float64)
    variables = positive_variables(jax.eval_shape(lambda: model.init(jax.random.key(0), x.astype(jnp.float32))))
    closed = jax.make_jaxpr(lambda v, x: layer_output(model, v, x, layer))(variables, x)
    flat = jax.tree.leaves(variables)

    def forward(x):
        (out,), _ = _eval(closed.jaxpr, closed.consts, [*flat, x], [False] * len(flat) + [True])
        return out

    out_shape = closed.out_avals[0].shape
    cotangents = np.zeros((len(units), *out_shape))
    for i, unit in enumerate(units):
        cotangents[(i, 0, *unit)] = 1.0  # every channel of the unit

    @jax.jit
    def grads(x, cotangents):
        _, pullback = jax.vjp(forward, x)
        return jax.vmap(lambda ct: pullback(ct)[0])(cotangents)

    grad = np.asarray(grads(x, jnp.asarray(cotangents)))[:, 0].sum(axis=-1)
    assert (grad >= 0).all(), "the linear model is not positive: an operation is left un-linearised"
    return [tuple((int(ix.min()), int(ix.max())) for ix in np.nonzero(g)) for g in grad]
