"""Train and eval steps: pure functions of (state, batch), compiled with jax.jit by the loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from cnn.train.state import TrainState


def top_k_correct(logits: jax.Array, labels: jax.Array, k: int) -> jax.Array:
    """1.0 where the label is among the k highest logits, per example."""
    k = min(k, logits.shape[-1])
    _, top = jax.lax.top_k(logits, k)
    return jnp.any(top == labels[:, None], axis=-1).astype(jnp.float32)


def _variables(state: TrainState, params) -> dict:
    return {"params": params, "batch_stats": state.batch_stats} if state.batch_stats else {"params": params}


def train_step(state: TrainState, batch: dict, dropout_key: jax.Array) -> tuple[TrainState, dict]:
    """One optimizer update on `batch`; dropout randomness is folded from the step, so replays match."""
    key = jax.random.fold_in(dropout_key, state.step)
    mutable = ["batch_stats"] if state.batch_stats else False

    def loss_fn(params):
        out = state.apply_fn(
            _variables(state, params), batch["image"], train=True, rngs={"dropout": key}, mutable=mutable
        )
        (logits, _), updates = out if mutable else (out, {})
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
        return loss, (logits, updates)

    (loss, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads=grads)
    if mutable:
        state = state.replace(batch_stats=updates["batch_stats"])
    top1 = top_k_correct(logits, batch["label"], 1).mean()
    return state, {"loss": loss, "top1": top1}


def eval_step(state: TrainState, batch: dict) -> dict:
    """Sums of loss and top-1/top-5 hits over the unmasked examples, and their count."""
    logits, _ = state.apply_fn(_variables(state, state.params), batch["image"], train=False)
    mask = batch["mask"]
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    return {
        "loss": jnp.sum(loss * mask),
        "top1": jnp.sum(top_k_correct(logits, batch["label"], 1) * mask),
        "top5": jnp.sum(top_k_correct(logits, batch["label"], 5) * mask),
        "count": jnp.sum(mask),
    }
