"""Local response normalisation, batch normalisation and dropout against numpy loops and hand computations."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from cnn.layers.norm import BatchNorm, Dropout, LocalResponseNorm, local_response_norm

RNG = np.random.default_rng(0)


def reference_lrn(a, size, k, alpha, beta):
    """The paper's formula as written: for every channel i, sum a_j² over the clipped window of j."""
    channels = a.shape[-1]
    out = np.empty_like(a, dtype=np.float64)
    for i in range(channels):
        energy = np.zeros(a.shape[:-1])
        for j in range(max(0, i - size // 2), min(channels - 1, i + size // 2) + 1):
            energy += a[..., j].astype(np.float64) ** 2
        out[..., i] = a[..., i] / (k + alpha * energy) ** beta
    return out


# Inputs of scale 30 put α Σ a² near k even for AlexNet's α = 1e-4, so the window matters.
@pytest.mark.parametrize(
    "size, k, alpha, beta, scale",
    [
        (5, 2.0, 1e-4, 0.75, 30.0),
        (3, 1.0, 0.5, 0.75, 1.0),
        (7, 0.5, 2.0, 0.5, 2.0),
        (1, 1.0, 1.0, 1.0, 1.0),
        (15, 2.0, 0.1, 0.75, 3.0),
    ],
)
def test_lrn_matches_the_formula_loop(size, k, alpha, beta, scale):
    a = (scale * RNG.standard_normal((2, 5, 5, 12))).astype(np.float32)
    got = local_response_norm(jnp.asarray(a), size=size, k=k, alpha=alpha, beta=beta)
    np.testing.assert_allclose(got, reference_lrn(a, size, k, alpha, beta), rtol=2e-5, atol=1e-6)


def test_lrn_defaults_are_alexnets():
    a = (30.0 * RNG.standard_normal((2, 5, 5, 12))).astype(np.float32)
    np.testing.assert_allclose(local_response_norm(jnp.asarray(a)), reference_lrn(a, 5, 2.0, 1e-4, 0.75), rtol=2e-5)


def test_lrn_clips_the_window_at_the_first_and_last_channel():
    # a = 1..6, n = 5, k = α = β = 1: channel 0 sums channels 0–2, channel 5 sums 3–5, channel 2 sums 0–4.
    a = jnp.arange(1.0, 7.0).reshape(1, 6)
    b = local_response_norm(a, size=5, k=1.0, alpha=1.0, beta=1.0)[0]
    np.testing.assert_allclose(b[0], 1 / (1 + 1 + 4 + 9), rtol=1e-6)
    np.testing.assert_allclose(b[1], 2 / (1 + 1 + 4 + 9 + 16), rtol=1e-6)
    np.testing.assert_allclose(b[2], 3 / (1 + 1 + 4 + 9 + 16 + 25), rtol=1e-6)
    np.testing.assert_allclose(b[5], 6 / (1 + 16 + 25 + 36), rtol=1e-6)


@pytest.mark.parametrize("shape", [(3, 7), (2, 9, 4), (2, 3, 4, 5, 6)])
def test_lrn_works_on_any_channels_last_rank(shape):
    a = (2.0 * RNG.standard_normal(shape)).astype(np.float32)
    got = local_response_norm(jnp.asarray(a), size=3, k=1.0, alpha=0.5, beta=0.75)
    np.testing.assert_allclose(got, reference_lrn(a, 3, 1.0, 0.5, 0.75), rtol=2e-5, atol=1e-6)


def test_lrn_with_a_window_wider_than_the_channels_sums_them_all():
    a = RNG.standard_normal((4, 3)).astype(np.float32)
    expected = a / (1.0 + 0.5 * np.sum(a.astype(np.float64) ** 2, axis=-1, keepdims=True)) ** 0.75
    np.testing.assert_allclose(local_response_norm(jnp.asarray(a), size=7, k=1.0, alpha=0.5), expected, rtol=2e-5)


def test_the_pytorch_and_caffe_convention_divides_alpha_by_size():
    """They compute a_i / (k + (α'/n) Σ a_j²)^β: their α' = α·n is our α, e.g. AlexNet's layer is theirs with 5e-4."""

    def alpha_over_n(a, size, k, alpha, beta):
        out = np.empty(a.shape)
        for i in range(a.shape[-1]):
            lo, hi = max(0, i - size // 2), min(a.shape[-1], i + size // 2 + 1)
            out[..., i] = a[..., i] / (k + alpha / size * np.sum(a[..., lo:hi].astype(np.float64) ** 2, axis=-1)) ** beta
        return out

    a = (30.0 * RNG.standard_normal((2, 5, 5, 12))).astype(np.float32)
    np.testing.assert_allclose(local_response_norm(jnp.asarray(a)), alpha_over_n(a, 5, 2.0, 5e-4, 0.75), rtol=2e-5)
    b = (3.0 * RNG.standard_normal((2, 5, 5, 12))).astype(np.float32)
    got = local_response_norm(jnp.asarray(b), size=3, k=1.0, alpha=0.3, beta=0.6)
    np.testing.assert_allclose(got, alpha_over_n(b, 3, 1.0, 0.3 * 3, 0.6), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("size", [0, 2, 4, -3])
def test_lrn_refuses_a_window_that_cannot_be_centred(size):
    with pytest.raises(ValueError, match="odd"):
        local_response_norm(jnp.ones((2, 6)), size=size)


def test_lrn_gradients_match_finite_differences():
    with jax.enable_x64(True):
        a = jnp.asarray(2.0 * RNG.standard_normal((2, 3, 3, 8)))
        check_grads(lambda x: local_response_norm(x, size=5, k=1.0, alpha=0.3, beta=0.75), (a,), order=2, modes=["rev"])


def test_lrn_differentiates_under_jit_as_it_does_eagerly():
    # Under jit a traced init value made lax fall back to a reduction it cannot differentiate.
    a = jnp.asarray(RNG.standard_normal((2, 3, 3, 8)), jnp.float32)
    grad = jax.grad(lambda x: local_response_norm(x).sum())
    np.testing.assert_allclose(jax.jit(grad)(a), grad(a), rtol=1e-6)


def test_lrn_module_has_no_parameters_and_equals_the_function():
    a = jnp.asarray(RNG.standard_normal((2, 4, 4, 10)), jnp.float32)
    layer = LocalResponseNorm(size=3, k=1.0, alpha=0.5, beta=0.6)
    variables = layer.init(jax.random.key(0), a)
    assert jax.tree.leaves(variables) == []
    np.testing.assert_array_equal(
        layer.apply(variables, a), local_response_norm(a, size=3, k=1.0, alpha=0.5, beta=0.6)
    )


def _batch(shape=(4, 5, 5, 6)):
    # Non-zero mean and non-unit spread per channel, so normalising and the running update both show.
    return (3.0 + 2.0 * RNG.standard_normal(shape) * np.arange(1, shape[-1] + 1)).astype(np.float32)


def test_batch_norm_training_standardises_with_the_biased_batch_variance():
    x = _batch()
    bn = BatchNorm()
    variables = bn.init(jax.random.key(0), jnp.asarray(x), train=False)
    y, _ = bn.apply(variables, jnp.asarray(x), train=True, mutable=["batch_stats"])
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(0, 1, 2))
    var = ((x64 - mean) ** 2).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(y, (x64 - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-4)


def test_batch_norm_scales_and_shifts_with_gamma_and_beta():
    x = _batch()
    gamma, beta = RNG.uniform(0.5, 2.0, 6).astype(np.float32), RNG.standard_normal(6).astype(np.float32)
    bn = BatchNorm()
    variables = bn.init(jax.random.key(0), jnp.asarray(x), train=False)
    variables = {**variables, "params": {"scale": jnp.asarray(gamma), "bias": jnp.asarray(beta)}}
    y, _ = bn.apply(variables, jnp.asarray(x), train=True, mutable=["batch_stats"])
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axis=(0, 1, 2)), x64.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y, gamma * (x64 - mean) / np.sqrt(var + 1e-5) + beta, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("momentum", [0.9, 0.5])
def test_running_averages_follow_the_momentum_update(momentum):
    x = _batch()
    bn = BatchNorm(momentum=momentum)
    variables = bn.init(jax.random.key(0), jnp.asarray(x), train=False)
    _, updates = bn.apply(variables, jnp.asarray(x), train=True, mutable=["batch_stats"])
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(0, 1, 2))
    biased_var = ((x64 - mean) ** 2).sum(axis=(0, 1, 2)) / (x.size / x.shape[-1])
    # Running statistics start at mean 0, variance 1.
    np.testing.assert_allclose(updates["batch_stats"]["mean"], (1 - momentum) * mean, rtol=1e-5)
    np.testing.assert_allclose(updates["batch_stats"]["var"], momentum * 1.0 + (1 - momentum) * biased_var, rtol=1e-5)


def test_eval_uses_the_running_averages_and_leaves_them_alone():
    x = _batch()
    bn = BatchNorm(epsilon=1e-3)
    variables = bn.init(jax.random.key(0), jnp.asarray(x), train=False)
    mean, var = RNG.standard_normal(6).astype(np.float32), RNG.uniform(0.5, 4.0, 6).astype(np.float32)
    gamma, beta = RNG.uniform(0.5, 2.0, 6).astype(np.float32), RNG.standard_normal(6).astype(np.float32)
    variables = {
        "params": {"scale": jnp.asarray(gamma), "bias": jnp.asarray(beta)},
        "batch_stats": {"mean": jnp.asarray(mean), "var": jnp.asarray(var)},
    }
    y, updates = bn.apply(variables, jnp.asarray(x), train=False, mutable=["batch_stats"])
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(var + 1e-3) + beta, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(updates["batch_stats"]["mean"], mean)
    np.testing.assert_array_equal(updates["batch_stats"]["var"], var)
    # The example alone gives the same output as in the batch: nothing depends on the batch.
    np.testing.assert_allclose(bn.apply(variables, jnp.asarray(x[:1]), train=False), y[:1], rtol=1e-6)


def test_batch_norm_keeps_flax_variable_layout_and_options():
    x = jnp.asarray(_batch((2, 3, 3, 4)))
    variables = BatchNorm().init(jax.random.key(0), x, train=False)
    assert set(variables["params"]) == {"scale", "bias"}
    assert set(variables["batch_stats"]) == {"mean", "var"}
    bare = BatchNorm(use_scale=False, use_bias=False).init(jax.random.key(0), x, train=False)
    assert "params" not in bare
    zero = BatchNorm(scale_init=nn.initializers.zeros_init())
    y, _ = zero.apply(zero.init(jax.random.key(0), x, train=False), x, train=True, mutable=["batch_stats"])
    np.testing.assert_array_equal(y, 0.0)


def test_batch_norm_normalises_dense_features_over_the_batch():
    x = _batch((16, 5))
    bn = BatchNorm()
    variables = bn.init(jax.random.key(0), jnp.asarray(x), train=False)
    y, _ = bn.apply(variables, jnp.asarray(x), train=True, mutable=["batch_stats"])
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, (x64 - x64.mean(0)) / np.sqrt(x64.var(0) + 1e-5), rtol=1e-4, atol=1e-4)


def test_batch_norm_training_gradients_match_finite_differences():
    with jax.enable_x64(True):
        x = jnp.asarray(_batch((3, 2, 2, 3)), jnp.float64)
        bn = BatchNorm()
        variables = jax.tree.map(lambda v: v.astype(jnp.float64), bn.init(jax.random.key(0), x, train=False))
        stats = variables["batch_stats"]
        gamma = jnp.asarray(RNG.uniform(0.5, 2.0, 3))
        beta = jnp.asarray(RNG.standard_normal(3))
        # A weighted sum, so the gradient is not the trivially zero one of Σ y over a channel.
        w = jnp.asarray(RNG.standard_normal(x.shape))

        def loss(x, gamma, beta):
            y, _ = bn.apply(
                {"params": {"scale": gamma, "bias": beta}, "batch_stats": stats}, x, train=True, mutable=["batch_stats"]
            )
            return jnp.sum(w * y)

        check_grads(loss, (x, gamma, beta), order=2, modes=["rev"])


def _dropout(rate, x, train, seed=0):
    return Dropout(rate).apply({}, x, train=train, rngs={"dropout": jax.random.key(seed)})


def test_dropout_is_the_identity_at_eval():
    x = jnp.asarray(RNG.standard_normal((8, 16)), jnp.float32)
    np.testing.assert_array_equal(Dropout(0.5).apply({}, x, train=False), x)


def test_dropout_drops_about_rate_of_the_units_and_scales_the_rest_exactly():
    rate, n = 0.3, 1_000_000
    x = RNG.uniform(1.0, 2.0, n).astype(np.float32)
    y = np.asarray(_dropout(rate, jnp.asarray(x), train=True))
    dropped = y == 0
    # Five binomial standard deviations: sqrt(0.3 · 0.7 / 1e6) ≈ 4.6e-4.
    assert abs(dropped.mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - rate), rtol=1e-6)


def test_dropout_preserves_the_expectation():
    rate, n = 0.5, 1_000_000
    y = np.asarray(_dropout(rate, jnp.ones(n), train=True, seed=3))
    # Each y is 0 or 2, so its standard deviation is 1 and the mean's is 1e-3.
    assert abs(y.mean() - 1.0) < 5e-3


def test_dropout_masks_are_a_function_of_the_key():
    x = jnp.ones((64, 64))
    a, b = _dropout(0.5, x, True, seed=1), _dropout(0.5, x, True, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _dropout(0.5, x, True, seed=2))


def test_dropout_rate_zero_is_the_identity_in_training():
    x = jnp.asarray(RNG.standard_normal((8, 16)), jnp.float32)
    np.testing.assert_array_equal(_dropout(0.0, x, train=True), x)


def test_dropout_gradient_is_the_mask_scaled_by_one_over_keep():
    with jax.enable_x64(True):
        x = jnp.asarray(RNG.standard_normal((6, 10)), jnp.float64)
        check_grads(lambda v: _dropout(0.4, v, True, seed=5), (x,), order=2, modes=["rev"])
        grad = jax.grad(lambda v: _dropout(0.4, v, True, seed=5).sum())(x)
        kept = np.asarray(_dropout(0.4, jnp.ones_like(x), True, seed=5)) != 0
    np.testing.assert_allclose(grad, np.where(kept, 1 / 0.6, 0.0), rtol=1e-12)


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_dropout_refuses_a_rate_outside_zero_to_one(rate):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        _dropout(rate, jnp.ones(4), train=True)


def test_layers_take_the_training_steps_calling_convention():
    """train=True with a dropout key and mutable batch_stats, as `cnn.train.steps` calls models; train=False at eval."""

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):
            x = BatchNorm()(x, train)
            x = LocalResponseNorm(size=3, k=1.0, alpha=0.5)(x)
            return Dropout(0.5)(x, train)

    x = jnp.asarray(_batch((4, 3, 3, 6)))
    net = Net()
    variables = net.init(jax.random.key(0), x, train=False)
    y, updates = net.apply(variables, x, train=True, rngs={"dropout": jax.random.key(1)}, mutable=["batch_stats"])
    assert np.any(np.asarray(y) == 0)
    assert not np.allclose(updates["batch_stats"]["BatchNorm_0"]["mean"], 0.0)
    y_eval = net.apply({**variables, **updates}, x, train=False)
    assert np.all(np.asarray(y_eval) != 0)
