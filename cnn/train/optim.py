"""The optax chain a config asks for: learning-rate schedule, optimizer, weight decay.

Config fields (`config.optimizer`): name ("sgd" | "adam"), learning_rate, momentum and
nesterov (sgd), b1, b2, eps (adam), weight_decay. For sgd, weight decay is the L2 term
added to the gradient before momentum (as in torch.optim.SGD); for adam it is decoupled
(AdamW, Loshchilov & Hutter 2019). Only kernels (parameters with two or more dimensions)
are decayed, never biases or normalisation scales.

`config.schedule`: name ("constant" | "cosine" | "step"), warmup_epochs (linear ramp from
0), and for "step" the `boundaries_epochs` at which the rate is multiplied by `decay_factor`.
"""

from __future__ import annotations

import jax
import ml_collections
import optax

from cnn.config import ConfigError
from cnn.suggest import unknown

SCHEDULES = ("constant", "cosine", "step")
OPTIMIZERS = ("sgd", "adam")


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
    else:
        raise _unknown("schedule", schedule.name, SCHEDULES)
    if warmup == 0:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, learning_rate, warmup), main], [warmup])


def _kernels(params) -> dict:
    return jax.tree.map(lambda p: p.ndim > 1, params)


def build_optimizer(optimizer: ml_collections.ConfigDict, schedule: optax.Schedule) -> optax.GradientTransformation:
    """The optax chain for `config.optimizer`, driven by `schedule`."""
    weight_decay = optimizer.get("weight_decay", 0.0)
    if optimizer.name == "sgd":
        return optax.chain(
            optax.add_decayed_weights(weight_decay, mask=_kernels) if weight_decay else optax.identity(),
            optax.sgd(schedule, momentum=optimizer.get("momentum", 0.0) or None,
                      nesterov=optimizer.get("nesterov", False)),
        )
    if optimizer.name == "adam":
        return optax.adamw(
            schedule,
            b1=optimizer.get("b1", 0.9),
            b2=optimizer.get("b2", 0.999),
            eps=optimizer.get("eps", 1e-8),
            weight_decay=weight_decay,
            mask=_kernels,
        )
    raise _unknown("optimizer", optimizer.name, OPTIMIZERS)
