"""Train and eval steps: pure functions of (state, batch), compiled for a mesh by `cnn.train.sharding`.

Options are bound with functools.partial before compiling:
- `prepare(images, step, labels)` turns the stored batch into model input and targets on device
  (normalising uint8 images, augmenting); it gets the step so its randomness is a function of
  (seed, step). The targets are the integer labels or, with mixup, distributions [N, classes],
  and the loss is the cross-entropy against them. The train metric top1 still counts each
  example's own label (under mixup, the one weighted λ in its mix), so it is no clean accuracy.
- `compute_dtype` (e.g. jnp.bfloat16) runs the forward and backward passes in that precision
  while the parameters, their gradients and the optimizer state stay float32: the cast of the
  parameters is inside the differentiated function, so its gradient comes back as float32.
- `label_smoothing` mixes the targets with the uniform distribution (Szegedy et al. 2016): the
  one-hot labels, or mixup's distributions. Both are linear, so smoothing the mix is mixing the
  smoothed one-hot labels.
- `aux_loss_weight`: models with auxiliary classifiers (GoogLeNet, Inception v3) return their logits
  in training as taps["aux_logits"], a tuple; each adds weight · its cross-entropy to the loss
  (GoogLeNet's 0.3), and the metrics report their sum unweighted as "aux_loss".

With an optimizer wrapped in `optax.apply_if_finite` (`config.nonfinite = "skip"`), the metrics
add "skipped_updates": 1 where the step's gradients were not finite, so its update was dropped
(the BatchNorm statistics of that batch are dropped with it), else 0.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from cnn.keys import flat
from cnn.train.state import TrainState

# (images, step, labels) -> (model input, targets: the labels or distributions [N, classes])
Prepare = Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def top_k_correct(logits: jax.Array, labels: jax.Array, k: int) -> jax.Array:
    """1.0 where the label is among the k highest logits, per example."""
    k = min(k, logits.shape[-1])
    _, top = jax.lax.top_k(logits, k)
    return jnp.any(top == labels[:, None], axis=-1).astype(jnp.float32)


def _variables(state: TrainState, params) -> dict:
    return {"params": params, "batch_stats": state.batch_stats} if state.batch_stats else {"params": params}


def _cast(tree, dtype):
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def _input(batch: dict, step: jax.Array, prepare: Prepare | None, compute_dtype) -> tuple[jax.Array, jax.Array]:
    if prepare is None:
        images, targets = batch["image"], batch["label"]
    else:
        images, targets = prepare(batch["image"], step, batch["label"])
    return _cast(images, compute_dtype), targets


def _is_skip_state(node) -> bool:
    return isinstance(node, optax.ApplyIfFiniteState)


def skipped_update(opt_state) -> jax.Array | None:
    """1 (int32) if an `optax.apply_if_finite` anywhere in the optimizer state found the step's gradients not
    finite, so dropped its update (unless it gave up: the loop then stops on the non-finite state), else 0;
    None when the optimizer has none. Which states exist is known at trace time, so this adds no host sync."""
    states = [s for s in jax.tree.leaves(opt_state, is_leaf=_is_skip_state) if _is_skip_state(s)]
    if not states:
        return None
    return jnp.any(jnp.stack([~s.last_finite for s in states])).astype(jnp.int32)


def all_finite(tree) -> jax.Array:
    """Whether every floating-point leaf of `tree` (a train state, say) is free of NaN and inf; a device scalar."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def train_step(state: TrainState, batch: dict, rng: jax.Array, *, prepare: Prepare | None = None,
               compute_dtype=None, label_smoothing: float = 0.0,
               aux_loss_weight: float = 0.3) -> tuple[TrainState, dict]:
    """One optimizer update on `batch`; dropout randomness is folded from the step, so replays match."""
    key = flat(jax.random.fold_in(rng, state.step))
    mutable = ["batch_stats"] if state.batch_stats else False
    images, targets = _input(batch, state.step, prepare, compute_dtype)

    def loss_fn(params):
        out = state.apply_fn(
            _variables(state, _cast(params, compute_dtype)), images, train=True, rngs={"dropout": key},
            mutable=mutable,
        )
        (logits, taps), updates = out if mutable else (out, {})
        logits = logits.astype(jnp.float32)
        loss = _cross_entropy(logits, targets, label_smoothing)
        aux = [_cross_entropy(a.astype(jnp.float32), targets, label_smoothing) for a in taps.get("aux_logits", ())]
        return loss + aux_loss_weight * sum(aux), (logits, updates, aux)

    (loss, (logits, updates, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    new_state = state.apply_gradients(grads=grads)
    skipped = skipped_update(new_state.opt_state)
    if mutable:
        batch_stats = _cast(updates["batch_stats"], jnp.float32)
        if skipped is not None:  # the batch that broke the gradients would leave NaN in the running statistics
            batch_stats = jax.tree.map(lambda old, new: jnp.where(skipped, old, new), state.batch_stats, batch_stats)
        new_state = new_state.replace(batch_stats=batch_stats)
    metrics = {"loss": loss, "top1": top_k_correct(logits, batch["label"], 1).mean()}
    if aux:
        metrics["aux_loss"] = sum(aux)
    if skipped is not None:
        metrics["skipped_updates"] = skipped
    return new_state, metrics


def _cross_entropy(logits: jax.Array, targets: jax.Array, label_smoothing: float) -> jax.Array:
    """Mean of −Σ_k t_k log softmax(logits)_k over the batch, t the targets (integer labels [N] as one-hot
    rows, or distributions [N, classes]) smoothed to (1 − label_smoothing) t + label_smoothing / classes."""
    if targets.ndim == 1 and not label_smoothing:
        return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()
    if targets.ndim == 1:
        targets = jax.nn.one_hot(targets, logits.shape[-1])
    if label_smoothing:
        targets = optax.smooth_labels(targets, label_smoothing)
    return optax.softmax_cross_entropy(logits, targets).mean()


def eval_step(state: TrainState, batch: dict, *, normalize: Callable[[jax.Array], jax.Array] | None = None,
              compute_dtype=None) -> dict:
    """Sums of loss and top-1/top-5 hits over the unmasked examples, and their count."""
    images = batch["image"] if normalize is None else normalize(batch["image"])
    variables = _variables(state, _cast(state.params, compute_dtype))
    logits, _ = state.apply_fn(variables, _cast(images, compute_dtype), train=False)
    logits = logits.astype(jnp.float32)
    mask = batch["mask"]
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    return {
        "loss": jnp.sum(loss * mask),
        "top1": jnp.sum(top_k_correct(logits, batch["label"], 1) * mask),
        "top5": jnp.sum(top_k_correct(logits, batch["label"], 5) * mask),
        "count": jnp.sum(mask),
    }
