import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from cnn.train import build_optimizer, build_schedule


def _schedule(name, warmup_epochs=0.0, **extra):
    return ml_collections.ConfigDict(dict(name=name, warmup_epochs=warmup_epochs, **extra))


def test_constant():
    s = build_schedule(_schedule("constant"), 0.1, steps_per_epoch=10, total_steps=100)
    assert float(s(0)) == pytest.approx(0.1) and float(s(99)) == pytest.approx(0.1)


def test_linear_warmup_then_constant():
    s = build_schedule(_schedule("constant", warmup_epochs=1.0), 0.1, steps_per_epoch=10, total_steps=100)
    assert [round(float(s(t)), 6) for t in (0, 5, 10, 50)] == [0.0, 0.05, 0.1, 0.1]


def test_cosine_after_warmup_by_hand():
    s = build_schedule(_schedule("cosine", warmup_epochs=1.0), 0.1, steps_per_epoch=10, total_steps=110)
    for t in (10, 35, 60, 85, 110):
        expected = 0.1 * 0.5 * (1 + math.cos(math.pi * (t - 10) / 100))
        assert float(s(t)) == pytest.approx(expected, abs=1e-7), t


@pytest.mark.parametrize("warmup_epochs", [0.0, 1.0])
def test_step_divides_by_ten_at_the_given_epochs(warmup_epochs):
    cfg = _schedule("step", warmup_epochs=warmup_epochs, boundaries_epochs=(3, 6), decay_factor=0.1)
    s = build_schedule(cfg, 0.1, steps_per_epoch=10, total_steps=100)
    values = {t: float(s(t)) for t in (29, 30, 59, 60, 99)}
    assert values == pytest.approx({29: 0.1, 30: 0.01, 59: 0.01, 60: 0.001, 99: 0.001})


def test_bad_schedule_settings_are_explained():
    with pytest.raises(ValueError, match="unknown schedule 'cosin'.*Did you mean 'cosine'"):
        build_schedule(_schedule("cosin"), 0.1, 10, 100)
    with pytest.raises(ValueError, match="warm-up"):
        build_schedule(_schedule("constant", warmup_epochs=20.0), 0.1, 10, 100)
    with pytest.raises(ValueError, match=r"boundaries_epochs \(1,\) must all lie after the warm-up"):
        build_schedule(_schedule("step", warmup_epochs=2.0, boundaries_epochs=(1,)), 0.1, 10, 100)


PARAMS = {"kernel": jnp.array([[1.0, 2.0]]), "bias": jnp.array([3.0])}
GRADS = {"kernel": jnp.array([[0.5, -1.0]]), "bias": jnp.array([0.25])}


def _run(optimizer: dict, steps: int, lr: float = 0.1):
    tx = build_optimizer(ml_collections.ConfigDict(optimizer), optax.constant_schedule(lr))
    params, state = PARAMS, tx.init(PARAMS)
    for _ in range(steps):
        updates, state = tx.update(GRADS, state, params)
        params = optax.apply_updates(params, updates)
    return jax.tree.map(np.asarray, params)


def test_sgd_momentum_by_hand():
    p = _run(dict(name="sgd", momentum=0.9, nesterov=False, weight_decay=0.0), steps=2)
    # v1 = g, v2 = 0.9 g + g: the parameters move by -lr (1 + 1.9) g.
    np.testing.assert_allclose(p["kernel"], [[1.0 - 0.1 * 2.9 * 0.5, 2.0 + 0.1 * 2.9]], rtol=1e-6)


def test_sgd_nesterov_by_hand():
    p = _run(dict(name="sgd", momentum=0.9, nesterov=True, weight_decay=0.0), steps=2)
    # Nesterov steps by g + 0.9 v: 1.9 g, then g + 0.9 · 1.9 g = 2.71 g.
    np.testing.assert_allclose(p["bias"], [3.0 - 0.1 * (1.9 + 2.71) * 0.25], rtol=1e-6)


def test_sgd_weight_decay_on_kernels_only():
    p = _run(dict(name="sgd", momentum=0.0, nesterov=False, weight_decay=0.1), steps=1)
    np.testing.assert_allclose(p["kernel"], [[1.0 - 0.1 * (0.5 + 0.1 * 1.0), 2.0 - 0.1 * (-1.0 + 0.1 * 2.0)]], rtol=1e-6)
    np.testing.assert_allclose(p["bias"], [3.0 - 0.1 * 0.25], rtol=1e-6)


def test_adam_first_step_is_lr_times_sign_plus_decoupled_decay():
    p = _run(dict(name="adam", b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01), steps=1, lr=0.001)
    # Bias-corrected m/sqrt(v) is g/|g| on the first step; AdamW subtracts lr·wd·w from kernels.
    np.testing.assert_allclose(p["kernel"], [[1.0 - 0.001 * (1 + 0.01), 2.0 + 0.001 * (1 - 0.02)]], rtol=1e-6)
    np.testing.assert_allclose(p["bias"], [3.0 - 0.001], rtol=1e-6)


def test_unknown_optimizer_suggests():
    with pytest.raises(ValueError, match="unknown optimizer 'adm'.*Did you mean 'adam'"):
        _run(dict(name="adm"), steps=1)
