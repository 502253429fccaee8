"""Fine-tuning strategies as learning-rate multipliers per layer group, applied with optax partitions.

`config.transfer.strategy`:
  scratch  the same network (cut, new head), every parameter randomly initialised and trained: the baseline
  all      start from the source's weights, train every kept parameter
  freeze   keep the groups up to `freeze_until` (a tap, inclusive) at the source's values; train the rest
  fade     as freeze, then the frozen groups thaw: group g's multiplier ramps linearly from 0 to 1 over
           `fade_epochs`, starting at `fade_start_epochs` for the deepest frozen group and
           `fade_stagger_epochs` later for each shallower one (0: all thaw together; > 0: gradual
           unfreezing from the top down, as in ULMFiT)

`layer_decay` d < 1 adds discriminative learning rates: the head trains at the full rate, the group
below it at d times that, the next at d², and so on down to the first (Howard & Ruder 2018 use
d = 1/2.6). Under `fade` the thawed groups get their decayed rate once the ramp ends.

The multiplier scales the optimizer's update after the optimizer (momentum, Adam) and weight decay,
so a group at 0 moves not at all. The gradients of frozen groups are zeroed before the optimizer:
clipping's global norm counts only what trains, and XLA drops their computation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from cnn.config import ConfigError
from cnn.transfer.groups import DROPPED, HEAD

STRATEGIES = ("scratch", "all", "freeze", "fade")
Multiplier = Callable[[jax.Array], jax.Array] | float  # of the step; a float is constant


def _frozen_groups(transfer: ml_collections.ConfigDict, order: list[str]) -> list[str]:
    """The groups up to and including `freeze_until`, shallowest first (those `freeze` and `fade` hold)."""
    if transfer.strategy not in ("freeze", "fade"):
        return []
    backbone = [g for g in order if g != HEAD]
    if transfer.freeze_until not in backbone:
        raise ConfigError(f"config.transfer.freeze_until {transfer.freeze_until!r} names no layer group with "
                          f"parameters before the cut; use one of {backbone}")
    return backbone[: backbone.index(transfer.freeze_until) + 1]


def group_multipliers(transfer: ml_collections.ConfigDict, order: list[str], steps_per_epoch: int
                      ) -> dict[str, Multiplier]:
    """Each group's learning-rate multiplier as the strategy and layer decay set it (DROPPED always 0)."""
    if transfer.strategy not in STRATEGIES:
        raise ConfigError(f"config.transfer.strategy {transfer.strategy!r}: use one of {', '.join(STRATEGIES)}")
    decay = transfer.get("layer_decay", 1.0)
    if not 0 < decay <= 1:
        raise ConfigError(f"config.transfer.layer_decay must lie in (0, 1] (1: off), got {decay}")
    frozen = _frozen_groups(transfer, order)
    multipliers: dict[str, Multiplier] = {DROPPED: 0.0}
    for depth, group in enumerate(reversed(order)):  # depth 0: the head
        multipliers[group] = decay**depth
    if transfer.strategy == "freeze":
        multipliers.update({g: 0.0 for g in frozen})
    elif transfer.strategy == "fade":
        ramp = round(transfer.fade_epochs * steps_per_epoch)
        if ramp < 1:
            raise ConfigError(f"config.transfer.fade_epochs {transfer.fade_epochs} spans no step; make it positive")
        for rank, group in enumerate(reversed(frozen)):  # rank 0: the deepest frozen group thaws first
            start = round((transfer.fade_start_epochs + rank * transfer.fade_stagger_epochs) * steps_per_epoch)
            # after it, the group's (decayed) rate
            multipliers[group] = optax.linear_schedule(0.0, multipliers[group], ramp, transition_begin=start)
    return multipliers


def still_groups(transfer: ml_collections.ConfigDict, order: list[str]) -> list[str]:
    """The groups that never train in this run (`freeze`'s frozen ones); their BatchNorms keep their statistics."""
    return _frozen_groups(transfer, order) if transfer.strategy == "freeze" else []


def fine_tuning_optimizer(base: optax.GradientTransformation, labels: Any,
                          multipliers: dict[str, Multiplier]) -> optax.GradientTransformation:
    """`base` (the config's optimizer chain) with each parameter's update scaled by its group's multiplier;
    `labels` names each parameter's group, shaped like the params."""
    held = {g for g, m in multipliers.items() if isinstance(m, float) and m == 0.0}
    gate = optax.partition({"held": optax.set_to_zero(), "free": optax.identity()},
                           jax.tree.map(lambda g: "held" if g in held else "free", labels))
    scales = {g: optax.set_to_zero() if g in held else
              optax.scale(m) if isinstance(m, float) else optax.scale_by_schedule(m)
              for g, m in multipliers.items()}
    used = set(jax.tree.leaves(labels))
    return optax.chain(gate, base, optax.partition({g: t for g, t in scales.items() if g in used}, labels))


def multiplier_at(multiplier: Multiplier, step: int) -> float:
    """The value of a multiplier at `step` (the count of updates already applied)."""
    return float(multiplier) if isinstance(multiplier, float) else float(multiplier(jnp.asarray(step)))
