import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import scipy.special

import cnn.models
from cnn.data import Split, eval_batches
from cnn.train import build_optimizer, create_train_state, evaluate, top_k_correct, train_step


def _state(lr=0.05):
    model = cnn.models.create("lenet5", num_classes=10)
    tx = build_optimizer(ml_collections.ConfigDict(dict(name="sgd", momentum=0.9, nesterov=False)),
                         optax.constant_schedule(lr))
    return create_train_state(model, tx, jax.random.key(0), (28, 28, 1))


def test_train_steps_lower_the_loss_on_a_fixed_batch():
    rng = np.random.default_rng(0)
    batch = {"image": rng.normal(size=(16, 28, 28, 1)).astype(np.float32), "label": rng.integers(0, 10, 16)}
    state = _state()
    step = jax.jit(train_step)
    losses = []
    for _ in range(8):
        state, metrics = step(state, batch, jax.random.key(1))
        losses.append(float(metrics["loss"]))
    assert int(state.step) == 8
    assert losses[-1] < 0.5 * losses[0], losses


def test_top_k_correct_matches_numpy():
    rng = np.random.default_rng(2)
    logits, labels = rng.normal(size=(40, 10)), rng.integers(0, 10, 40)
    ranks = (logits > logits[np.arange(40), labels][:, None]).sum(axis=1)
    for k in (1, 5):
        np.testing.assert_array_equal(top_k_correct(jnp.asarray(logits), jnp.asarray(labels), k), ranks < k)


def test_evaluate_counts_every_example_once_with_a_ragged_last_batch():
    rng = np.random.default_rng(3)
    split = Split(rng.normal(size=(23, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, 23).astype(np.int32))
    state = _state()
    result = evaluate(state, eval_batches(split, batch_size=7))
    logits, _ = state.apply_fn({"params": state.params}, split.images)
    logits = np.asarray(logits, np.float64)
    expected_loss = -scipy.special.log_softmax(logits, axis=1)[np.arange(23), split.labels].mean()
    order = np.argsort(-logits, axis=1)
    assert result["count"] == 23
    assert abs(result["loss"] - expected_loss) < 1e-5
    assert result["top1"] == np.mean(order[:, 0] == split.labels)
    assert result["top5"] == np.mean((order[:, :5] == split.labels[:, None]).any(axis=1))
