"""Auxiliary classifiers (GoogLeNet's) add weight · cross-entropy to the training loss."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.special

from cnn.train.state import TrainState
from cnn.train.steps import train_step


class _TwoHeads(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = x.reshape(x.shape[0], -1)
        logits = nn.Dense(5, name="head")(x)
        aux = nn.Dense(5, name="aux")(x)  # created at init (train=False) too, as the zoo's aux heads are
        return logits, ({"aux_logits": (aux, 2 * aux)} if train else {})


def _nll(logits, labels):
    logp = scipy.special.log_softmax(np.asarray(logits, np.float64), axis=1)
    return -logp[np.arange(len(labels)), labels].mean()


@pytest.mark.parametrize("weight", [0.3, 0.0])
def test_each_aux_head_adds_weighted_cross_entropy(weight):
    model = _TwoHeads()
    x = jax.random.normal(jax.random.key(0), (6, 4, 4, 1))
    labels = np.array([0, 1, 2, 3, 4, 0], np.int32)
    variables = model.init(jax.random.key(1), x)
    state = TrainState.create(apply_fn=model.apply, params=variables["params"], tx=optax.sgd(0.0), batch_stats={})
    _, metrics = train_step(state, {"image": x, "label": labels}, jax.random.key(2), aux_loss_weight=weight)

    p = variables["params"]
    flat = np.asarray(x).reshape(6, -1)
    main = _nll(flat @ p["head"]["kernel"] + p["head"]["bias"], labels)
    aux = flat @ p["aux"]["kernel"] + p["aux"]["bias"]
    aux_sum = _nll(aux, labels) + _nll(2 * aux, labels)
    assert float(metrics["loss"]) == pytest.approx(main + weight * aux_sum, rel=1e-5)
    assert float(metrics["aux_loss"]) == pytest.approx(aux_sum, rel=1e-5)


class _OneHead(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Dense(3)(x.reshape(x.shape[0], -1)), {}


def test_models_without_aux_heads_report_no_aux_loss():
    model, x = _OneHead(), jnp.ones((2, 2, 2, 1))
    params = model.init(jax.random.key(0), x)["params"]
    state = TrainState.create(apply_fn=model.apply, params=params, tx=optax.sgd(0.0), batch_stats={})
    _, metrics = train_step(state, {"image": x, "label": np.array([0, 1])}, jax.random.key(0))
    assert set(metrics) == {"loss", "top1"}
