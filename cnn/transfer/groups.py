"""Layer groups of a network, read off its computation: which tap each parameter first feeds.

The parameters of a model are grouped by the taps it returns, in the order it computes them: a
parameter belongs to the first tap whose value depends on it (LeNet-5: C1's kernel and bias to
"c1", C3's to "c3"; a ResNet's stem to "stem", a stage's blocks to that stage). Dependence is read
from the traced program (a jaxpr), so it needs no per-model table and follows skips, shared
layers and parameterless taps (pooling) as the code does. Parameters that no tap up to the cut
depends on are "dropped"; those outside the backbone are the new "head".
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.extend import core as jcore

from cnn.transfer.surgery import taps_before

HEAD, DROPPED = "head", "dropped"


def _dependencies(closed: jcore.ClosedJaxpr) -> list[int]:
    """For each output of the program, a bit mask of the inputs it depends on (an equation's outputs are taken to
    depend on all of its inputs: exact for the primitives of a forward pass, conservative for nested calls)."""
    masks: dict[jcore.Var, int] = {v: 1 << i for i, v in enumerate(closed.jaxpr.invars)}
    for eqn in closed.jaxpr.eqns:
        mask = 0
        for v in eqn.invars:
            if not isinstance(v, jcore.Literal):
                mask |= masks.get(v, 0)
        for v in eqn.outvars:
            masks[v] = mask
    return [0 if isinstance(v, jcore.Literal) else masks.get(v, 0) for v in closed.jaxpr.outvars]


@dataclasses.dataclass(frozen=True)
class LayerGroups:
    labels: Any  # shaped like the params, each leaf the name of its group
    order: list[str]  # the groups that hold parameters, shallowest first (DROPPED excluded)


def layer_groups(model: nn.Module, variables: dict[str, Any], input_shape: tuple[int, ...], cut: str) -> LayerGroups:
    """Each parameter's group: the tap (up to `cut`, inclusive) that first depends on it, DROPPED if none does."""
    params = variables["params"]
    others = {k: v for k, v in variables.items() if k != "params"}
    x = jnp.zeros((1, *input_shape), jnp.float32)
    order: list[str] = []

    def taps_of(p):
        found = taps_before(model.apply({"params": p, **others}, x, train=False)[1], cut)
        order[:] = list(found)
        return [found[name] for name in found]  # a list keeps the computation order through tracing

    closed = jax.make_jaxpr(taps_of)(params)
    masks = _dependencies(closed)
    leaves, treedef = jax.tree.flatten(params)
    labels = [DROPPED] * len(leaves)
    for name, mask in zip(order, masks):
        for i in range(len(leaves)):
            if labels[i] == DROPPED and mask >> i & 1:
                labels[i] = name
    return LayerGroups(jax.tree.unflatten(treedef, labels), [name for name in order if name in labels])
