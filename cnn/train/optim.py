"""The optax chain a config asks for: learning-rate schedule, optimizer, weight decay, clipping.

Every optimizer is one chain of the same shape, so weight decay and clipping mean the same
thing whichever optimizer runs:

    [clip_by_global_norm] -> [coupled decay] -> scale_by_<optimizer> -> [decoupled decay] -> -lr(t)

`config.optimizer`: name, learning_rate, weight_decay, weight_decay_style, clip_grad_norm
(0: off), and per optimizer:
  sgd      momentum (0: plain SGD), nesterov
  rmsprop  rho (decay of the mean square), eps (added to its root, as in torch and Keras),
           momentum (0: none; applied to the rescaled gradient, as in torch.optim.RMSprop)
  adam     b1, b2, eps
  adamw    b1, b2, eps
  adagrad  initial_accumulator_value, eps (inside the root, as in optax)

Weight decay only touches kernels (parameters with two or more dimensions), never biases or
normalisation scales. weight_decay_style "coupled" is the classic L2 term: wd·w joins the
gradient before the optimizer rescales it (torch.optim's weight_decay). "decoupled" is
Loshchilov & Hutter (2019): wd·w joins after the rescaling, so only the learning rate
multiplies it, never momentum or the adaptive denominators. "" picks the optimizer's own
default: decoupled for adamw, coupled for the others.

Older configs meant AdamW by `adam` with weight decay; `adam` now means Adam with coupled L2,
so such configs must say `adamw` to keep their numerics.

`config.nonfinite` ("stop" | "skip") is passed separately: "skip" wraps the whole chain in
`optax.apply_if_finite`, which drops an update whose gradients hold a NaN or an inf. A dropped
update leaves the chain's state as it was, the schedule's count included: the learning rate
follows the applied updates.

`config.schedule`: name ("constant" | "cosine" | "step" | "exponential"), warmup_epochs
(linear ramp from 0); "step" multiplies the rate by `decay_factor` at each of
`boundaries_epochs`; "exponential" multiplies it by `decay_rate` per epoch after the warm-up,
continuously or, with `staircase`, at whole epochs.
"""

from __future__ import annotations

import jax
import ml_collections
import optax

from cnn.config import ConfigError
from cnn.suggest import unknown

SCHEDULES = ("constant", "cosine", "exponential", "step")
OPTIMIZERS = ("adagrad", "adam", "adamw", "rmsprop", "sgd")
WEIGHT_DECAY_STYLES = ("coupled", "decoupled")
NONFINITE = ("skip", "stop")
# Batches are shuffled, so a bad example or a rare overflow gives isolated non-finite gradients;
# this many in a row means the model or the learning rate itself is broken, and skipping further
# would only burn the run's time. apply_if_finite then applies the bad update, and the training
# loop stops on the non-finite state it leaves.
MAX_CONSECUTIVE_SKIPS = 10


def _unknown(kind: str, name: str, known: tuple[str, ...]) -> ConfigError:
    return ConfigError(f"config.{kind}.name: {unknown(kind, name, known)}")


def build_schedule(
    schedule: ml_collections.ConfigDict, learning_rate: float, steps_per_epoch: int, total_steps: int
) -> optax.Schedule:
    """Learning rate as a function of the global step."""
    warmup = round(schedule.get("warmup_epochs", 0) * steps_per_epoch)
    if 0 < total_steps <= warmup:
        raise ConfigError(
            f"schedule.warmup_epochs spans {warmup} steps but the run has only {total_steps}; shorten the warm-up"
        )
    if schedule.name == "constant":
        main = optax.constant_schedule(learning_rate)
    elif schedule.name == "cosine":
        main = optax.cosine_decay_schedule(learning_rate, decay_steps=max(total_steps - warmup, 1))
    elif schedule.name == "step":
        boundaries = [round(e * steps_per_epoch) - warmup for e in schedule.boundaries_epochs]
        if any(b <= 0 for b in boundaries):
            raise ConfigError(
                f"schedule.boundaries_epochs {tuple(schedule.boundaries_epochs)} must all lie after the "
                f"warm-up ({schedule.get('warmup_epochs', 0)} epochs)"
            )
        main = optax.piecewise_constant_schedule(
            learning_rate, {b: schedule.get("decay_factor", 0.1) for b in boundaries}
        )
    elif schedule.name == "exponential":
        decay_rate = schedule.get("decay_rate", 0.9)
        if decay_rate <= 0:
            raise ConfigError(f"schedule.decay_rate must be positive (the factor per epoch), got {decay_rate}")
        main = optax.exponential_decay(learning_rate, transition_steps=steps_per_epoch, decay_rate=decay_rate,
                                       staircase=schedule.get("staircase", False))
    else:
        raise _unknown("schedule", schedule.name, SCHEDULES)
    if warmup == 0:
        return main
    # join_schedules hands `main` the steps counted from the end of the warm-up.
    return optax.join_schedules([optax.linear_schedule(0.0, learning_rate, warmup), main], [warmup])


def _kernels(params) -> dict:
    return jax.tree.map(lambda p: p.ndim > 1, params)


def _scale_by(optimizer: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """The optimizer's own rescaling of the gradient, before the learning rate and sign flip."""
    name, momentum = optimizer.name, optimizer.get("momentum", 0.0)
    if name == "sgd":
        return optax.trace(momentum, nesterov=optimizer.get("nesterov", False)) if momentum else optax.identity()
    if name == "rmsprop":
        rms = optax.scale_by_rms(decay=optimizer.get("rho", 0.9), eps=optimizer.get("eps", 1e-8), eps_in_sqrt=False)
        return optax.chain(rms, optax.trace(momentum)) if momentum else rms
    if name in ("adam", "adamw"):
        return optax.scale_by_adam(b1=optimizer.get("b1", 0.9), b2=optimizer.get("b2", 0.999),
                                   eps=optimizer.get("eps", 1e-8))
    if name == "adagrad":
        return optax.scale_by_rss(initial_accumulator_value=optimizer.get("initial_accumulator_value", 0.1),
                                  eps=optimizer.get("eps", 1e-8))
    raise _unknown("optimizer", name, OPTIMIZERS)


def _weight_decay_style(optimizer: ml_collections.ConfigDict) -> str:
    style = optimizer.get("weight_decay_style", "")
    if style == "":
        return "decoupled" if optimizer.name == "adamw" else "coupled"
    if style not in WEIGHT_DECAY_STYLES:
        known = unknown("weight decay style", style, WEIGHT_DECAY_STYLES)
        raise ConfigError(f'config.optimizer.weight_decay_style: {known} (or "" for the optimizer\'s default)')
    return style


def build_optimizer(optimizer: ml_collections.ConfigDict, schedule: optax.Schedule,
                    nonfinite: str = "stop") -> optax.GradientTransformation:
    """The optax chain for `config.optimizer`, driven by `schedule`; `nonfinite` is `config.nonfinite`."""
    scale_by = _scale_by(optimizer)  # first, so an unknown name is reported before any other key
    if nonfinite not in NONFINITE:
        raise ConfigError(f"config.nonfinite: {unknown('nonfinite mode', nonfinite, NONFINITE)}")
    weight_decay = optimizer.get("weight_decay", 0.0)
    if weight_decay < 0:
        raise ConfigError(f"config.optimizer.weight_decay must be >= 0 (0: off), got {weight_decay}")
    clip = optimizer.get("clip_grad_norm", 0.0)
    if clip < 0:
        raise ConfigError(f"config.optimizer.clip_grad_norm must be >= 0 (0: off), got {clip}")
    style = _weight_decay_style(optimizer)
    decay = [optax.add_decayed_weights(weight_decay, mask=_kernels)] if weight_decay else []
    tx = optax.chain(
        *([optax.clip_by_global_norm(clip)] if clip else []),
        *(decay if style == "coupled" else []),
        scale_by,
        *(decay if style == "decoupled" else []),
        optax.scale_by_learning_rate(schedule),
    )
    return optax.apply_if_finite(tx, MAX_CONSECUTIVE_SKIPS) if nonfinite == "skip" else tx
