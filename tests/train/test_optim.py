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


def test_adamw_first_step_is_lr_times_sign_plus_decoupled_decay():
    p = _run(dict(name="adamw", b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01), steps=1, lr=0.001)
    # Bias-corrected m/sqrt(v) is g/|g| on the first step; AdamW subtracts lr·wd·w from kernels.
    np.testing.assert_allclose(p["kernel"], [[1.0 - 0.001 * (1 + 0.01), 2.0 + 0.001 * (1 - 0.02)]], rtol=1e-6)
    np.testing.assert_allclose(p["bias"], [3.0 - 0.001], rtol=1e-6)


def test_unknown_optimizer_suggests():
    with pytest.raises(ValueError, match="unknown optimizer 'adm'.*Did you mean 'adam'"):
        _run(dict(name="adm"), steps=1)


def test_exponential_schedule_by_hand():
    cfg = _schedule("exponential", decay_rate=0.5, staircase=False)
    s = build_schedule(cfg, 0.1, steps_per_epoch=10, total_steps=100)
    for t in (0, 5, 10, 25, 99):
        assert float(s(t)) == pytest.approx(0.1 * 0.5 ** (t / 10), rel=1e-6), t


def test_exponential_schedule_staircase_decays_at_whole_epochs():
    cfg = _schedule("exponential", decay_rate=0.5, staircase=True)
    s = build_schedule(cfg, 0.1, steps_per_epoch=10, total_steps=100)
    for t in (0, 9, 10, 25, 99):
        assert float(s(t)) == pytest.approx(0.1 * 0.5 ** math.floor(t / 10), rel=1e-6), t


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_schedule_counts_epochs_from_the_end_of_warmup(staircase):
    cfg = _schedule("exponential", warmup_epochs=1.0, decay_rate=0.5, staircase=staircase)
    s = build_schedule(cfg, 0.1, steps_per_epoch=10, total_steps=100)
    assert float(s(5)) == pytest.approx(0.1 * 5 / 10)  # still warming up
    for t in (10, 15, 20, 35):
        exponent = (t - 10) / 10
        expected = 0.1 * 0.5 ** (math.floor(exponent) if staircase else exponent)
        assert float(s(t)) == pytest.approx(expected, rel=1e-6), t


def test_exponential_schedule_rejects_a_non_positive_rate():
    with pytest.raises(ValueError, match="schedule.decay_rate must be positive"):
        build_schedule(_schedule("exponential", decay_rate=0.0), 0.1, 10, 100)


# First-step rescaling of a gradient g by each optimizer, written from the papers' update rules
# (state starts at zero, so every moving average holds only (1 - decay) · g). eps is large enough
# to tell inside the root from outside it.
M, RHO, B1, B2, EPS, A0 = 0.9, 0.9, 0.9, 0.999, 0.01, 0.1
FIRST_STEP = {
    # Nesterov: the step is g + momentum · v with v = g.
    "sgd": (dict(name="sgd", momentum=M, nesterov=True), lambda g: (1 + M) * g),
    # Mean square v = (1 - rho) g², step g / (sqrt(v) + eps); the momentum buffer holds that step.
    "rmsprop": (dict(name="rmsprop", rho=RHO, eps=EPS, momentum=M),
                lambda g: g / (np.sqrt((1 - RHO) * g**2) + EPS)),
    # Bias-corrected m̂ = g and v̂ = g²: the step is g / (|g| + eps).
    "adam": (dict(name="adam", b1=B1, b2=B2, eps=EPS), lambda g: g / (np.abs(g) + EPS)),
    "adamw": (dict(name="adamw", b1=B1, b2=B2, eps=EPS), lambda g: g / (np.abs(g) + EPS)),
    # Accumulator a0 + g², step g / sqrt(a0 + g² + eps).
    "adagrad": (dict(name="adagrad", initial_accumulator_value=A0, eps=EPS),
                lambda g: g / np.sqrt(A0 + g**2 + EPS)),
}


def _expected_first_step(scale, weight_decay: float, style: str, lr: float) -> dict:
    """Coupled: the optimizer rescales g + wd·w. Decoupled: it rescales g, and lr·wd·w is added after."""
    w = {k: np.asarray(v, np.float64) for k, v in PARAMS.items()}
    g = {k: np.asarray(v, np.float64) for k, v in GRADS.items()}
    kernel = w["kernel"]
    if style == "coupled":
        kernel_step = scale(g["kernel"] + weight_decay * kernel)
    else:
        kernel_step = scale(g["kernel"]) + weight_decay * kernel
    return {"kernel": kernel - lr * kernel_step, "bias": w["bias"] - lr * scale(g["bias"])}


@pytest.mark.parametrize("style", ["coupled", "decoupled"])
@pytest.mark.parametrize("name", sorted(FIRST_STEP))
def test_first_step_of_every_optimizer_with_weight_decay(name, style):
    config, scale = FIRST_STEP[name]
    p = _run(dict(config, weight_decay=0.3, weight_decay_style=style), steps=1, lr=0.01)
    expected = _expected_first_step(scale, 0.3, style, lr=0.01)
    for leaf in ("kernel", "bias"):
        np.testing.assert_allclose(p[leaf], expected[leaf], rtol=1e-6, err_msg=leaf)


@pytest.mark.parametrize("name, style", [("sgd", "coupled"), ("rmsprop", "coupled"), ("adam", "coupled"),
                                         ("adagrad", "coupled"), ("adamw", "decoupled")])
def test_empty_style_is_the_optimizers_default(name, style):
    config, scale = FIRST_STEP[name]
    p = _run(dict(config, weight_decay=0.3, weight_decay_style=""), steps=1, lr=0.01)
    np.testing.assert_allclose(p["kernel"], _expected_first_step(scale, 0.3, style, lr=0.01)["kernel"], rtol=1e-6)


def test_adam_normalises_coupled_decay_away_on_the_first_step_but_not_decoupled():
    config = dict(FIRST_STEP["adam"][0], eps=1e-8)
    no_decay = _run(dict(config, weight_decay=0.0), steps=1, lr=0.001)["kernel"]
    coupled = _run(dict(config, weight_decay=0.01, weight_decay_style="coupled"), steps=1, lr=0.001)["kernel"]
    decoupled = _run(dict(config, weight_decay=0.01, weight_decay_style="decoupled"), steps=1, lr=0.001)["kernel"]
    # (g + wd·w) / |g + wd·w| is still sign(g): L2 is invisible to Adam's first step.
    np.testing.assert_allclose(coupled, no_decay, rtol=1e-7)
    # float32 weights near 1 carry ~1e-7 absolute error, well below the 1e-5 shift.
    np.testing.assert_allclose(decoupled - no_decay, -0.001 * 0.01 * np.asarray(PARAMS["kernel"]), atol=1e-7)


def test_plain_sgd_decays_the_same_either_way_but_nesterov_does_not():
    plain = dict(name="sgd", momentum=0.0, weight_decay=0.1)
    np.testing.assert_array_equal(_run(dict(plain, weight_decay_style="coupled"), steps=1)["kernel"],
                                  _run(dict(plain, weight_decay_style="decoupled"), steps=1)["kernel"])
    nesterov = dict(name="sgd", momentum=0.9, nesterov=True, weight_decay=0.1)
    coupled = _run(dict(nesterov, weight_decay_style="coupled"), steps=1)["kernel"]
    decoupled = _run(dict(nesterov, weight_decay_style="decoupled"), steps=1)["kernel"]
    # Coupled decay goes through the (1 + momentum) look-ahead; decoupled decay does not.
    np.testing.assert_allclose(decoupled - coupled, 0.1 * 0.9 * 0.1 * np.asarray(PARAMS["kernel"]), rtol=1e-5)


def test_clipping_rescales_the_gradient_to_the_global_norm():
    norm = math.sqrt(0.5**2 + 1.0**2 + 0.25**2)
    p = _run(dict(name="sgd", momentum=0.0, clip_grad_norm=0.5, weight_decay=0.1), steps=1)
    # The raw gradient is clipped; the coupled decay added after it is not.
    c = 0.5 / norm
    np.testing.assert_allclose(p["kernel"], [[1.0 - 0.1 * (0.5 * c + 0.1), 2.0 - 0.1 * (-1.0 * c + 0.2)]], rtol=1e-6)
    np.testing.assert_allclose(p["bias"], [3.0 - 0.1 * 0.25 * c], rtol=1e-6)
    unclipped = _run(dict(name="sgd", momentum=0.0, clip_grad_norm=10.0), steps=1)
    np.testing.assert_allclose(unclipped["bias"], [3.0 - 0.1 * 0.25], rtol=1e-6)


def test_default_experiment_matches_the_reference_sgd_chain_bit_for_bit():
    from cnn.config import load_config

    config = load_config("experiments/fashion_mnist/lenet5.py")
    schedule = build_schedule(config.schedule, config.optimizer.learning_rate, steps_per_epoch=5, total_steps=40)
    ours = build_optimizer(config.optimizer, schedule)
    reference = optax.chain(
        optax.add_decayed_weights(5e-4, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
        optax.sgd(schedule, momentum=0.9, nesterov=True),
    )
    keys = jax.random.split(jax.random.key(0), 3)
    params = {"conv": {"kernel": jax.random.normal(keys[0], (3, 3, 2, 4)), "bias": jnp.ones(4)},
              "scale": jnp.full((4,), 0.5)}
    ours_params, ours_state = params, ours.init(params)
    ref_params, ref_state = params, reference.init(params)
    for step in range(12):  # through the warm-up into the cosine decay
        grads = jax.tree.map(lambda x: jax.random.normal(jax.random.fold_in(keys[1], step), x.shape), params)
        ours_updates, ours_state = ours.update(grads, ours_state, ours_params)
        ref_updates, ref_state = reference.update(grads, ref_state, ref_params)
        ours_params = optax.apply_updates(ours_params, ours_updates)
        ref_params = optax.apply_updates(ref_params, ref_updates)
    jax.tree.map(np.testing.assert_array_equal, ours_params, ref_params)
    assert not np.array_equal(ours_params["conv"]["kernel"], params["conv"]["kernel"])


def test_bad_optimizer_settings_name_the_key():
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprp'.*Did you mean 'rmsprop'"):
        _run(dict(name="rmsprp"), steps=1)
    with pytest.raises(ValueError, match="weight_decay_style: unknown weight decay style 'coupeld'. "
                                         "Did you mean 'coupled'"):
        _run(dict(name="sgd", weight_decay=0.1, weight_decay_style="coupeld"), steps=1)
    with pytest.raises(ValueError, match=r"config.optimizer.weight_decay must be >= 0"):
        _run(dict(name="adam", weight_decay=-0.1), steps=1)
    with pytest.raises(ValueError, match=r"config.optimizer.clip_grad_norm must be >= 0"):
        _run(dict(name="sgd", clip_grad_norm=-1.0), steps=1)


def test_rmsprop_momentum_accumulates_the_rescaled_steps():
    p = _run(dict(FIRST_STEP["rmsprop"][0], weight_decay=0.0), steps=2, lr=0.01)
    g = np.asarray(GRADS["bias"], np.float64)
    u1 = g / (np.sqrt((1 - RHO) * g**2) + EPS)  # mean square (1 - rho) g²
    u2 = g / (np.sqrt((1 - RHO**2) * g**2) + EPS)  # rho (1 - rho) g² + (1 - rho) g²
    # The buffer is u1, then momentum · u1 + u2.
    np.testing.assert_allclose(p["bias"], 3.0 - 0.01 * (u1 + M * u1 + u2), rtol=1e-6)
