"""Stochastic depth (Huang et al. 2016; torchvision's StochasticDepth "row" mode): whole samples dropped, the rest
scaled by 1/(1 − p), the identity at evaluation and at p = 0."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn.layers import StochasticDepth, stochastic_depth

RNG = np.random.default_rng(0)


def _train(rate, x, seed=0):
    return np.asarray(StochasticDepth(rate).apply({}, x, train=True, rngs={"dropout": jax.random.key(seed)}))


def test_each_sample_is_dropped_or_kept_whole_and_the_kept_ones_scaled_exactly():
    rate, n = 0.3, 20_000
    x = RNG.uniform(1.0, 2.0, (n, 2, 2, 3)).astype(np.float32)
    y = _train(rate, jnp.asarray(x))
    dropped = np.all(y == 0, axis=(1, 2, 3))
    assert np.all(dropped | np.all(y != 0, axis=(1, 2, 3)))  # no sample is partly dropped
    # Five binomial standard deviations: sqrt(0.3 · 0.7 / 2e4) ≈ 3.2e-3.
    assert abs(dropped.mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - rate), rtol=1e-6)


def test_the_expectation_is_preserved():
    rate, n = 0.2, 1_000_000
    y = _train(rate, jnp.ones((n, 1)), seed=3)
    # Each y is 0 or 1.25, so its standard deviation is 0.5 and the mean's 5e-4.
    assert abs(y.mean() - 1.0) < 2.5e-3


def test_evaluation_is_the_identity():
    x = jnp.asarray(RNG.standard_normal((8, 3, 3, 4)), jnp.float32)
    np.testing.assert_array_equal(StochasticDepth(0.5).apply({}, x, train=False), x)


def test_rate_zero_returns_the_input_in_training_without_an_rng():
    x = jnp.asarray(RNG.standard_normal((8, 3, 3, 4)), jnp.float32)
    np.testing.assert_array_equal(StochasticDepth(0.0).apply({}, x, train=True), x)
    assert stochastic_depth(x, 0.0, None) is x


def test_the_draw_is_a_function_of_the_key():
    x = jnp.ones((64, 2))
    np.testing.assert_array_equal(_train(0.5, x, seed=1), _train(0.5, x, seed=1))
    assert not np.array_equal(_train(0.5, x, seed=1), _train(0.5, x, seed=2))


def test_gradient_is_the_same_per_sample_mask():
    x = jnp.asarray(RNG.standard_normal((32, 3)), jnp.float32)
    key = jax.random.key(4)
    grad = np.asarray(jax.grad(lambda x: stochastic_depth(x, 0.25, key).sum())(x))
    y = np.asarray(stochastic_depth(x, 0.25, key))
    kept = np.all(y != 0, axis=1)
    assert 0 < kept.sum() < 32
    np.testing.assert_allclose(grad, np.where(kept[:, None], np.full(x.shape, 1 / 0.75), 0.0), rtol=1e-6)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_rates_outside_0_1_are_refused(rate):
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        StochasticDepth(rate).apply({}, jnp.ones((2, 3)), train=False)
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        stochastic_depth(jnp.ones((2, 3)), rate, jax.random.key(0))
