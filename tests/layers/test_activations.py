"""Activation functions against numpy and LeNet's design constraints; lookup by name."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from cnn.layers.activations import ACTIVATIONS, activation, relu, scaled_tanh, sigmoid, tanh

X = np.linspace(-8.0, 8.0, 321, dtype=np.float32)


def test_scaled_tanh_maps_plus_minus_one_to_plus_minus_one():
    np.testing.assert_allclose(scaled_tanh(jnp.array([-1.0, 1.0])), [-1.0, 1.0], atol=1e-3)


def test_scaled_tanh_gain_at_the_origin_is_a_times_s():
    np.testing.assert_allclose(jax.grad(scaled_tanh)(0.0), 1.7159 * 2 / 3, rtol=1e-6)


def test_scaled_tanh_saturates_at_a():
    np.testing.assert_allclose(scaled_tanh(jnp.array([-50.0, 50.0])), [-1.7159, 1.7159], rtol=1e-6)


FORMULAS = {
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
    "relu": lambda x: np.maximum(0.0, x),
    "scaled_tanh": lambda x: 1.7159 * np.tanh(2 / 3 * x),
}


@pytest.mark.parametrize("f, name", [(sigmoid, "sigmoid"), (tanh, "tanh"), (relu, "relu"), (scaled_tanh, "scaled_tanh")])
def test_activations_and_their_names_match_the_formulas(f, name):
    expected = FORMULAS[name](X.astype(np.float64))
    np.testing.assert_allclose(f(jnp.asarray(X)), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(activation(name)(jnp.asarray(X)), expected, rtol=1e-6, atol=1e-7)


def test_relu_zeroes_negatives_and_passes_positives():
    np.testing.assert_array_equal(relu(jnp.array([-2.0, -0.5, 0.0, 0.5, 3.0])), [0.0, 0.0, 0.0, 0.5, 3.0])


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "scaled_tanh"])
def test_smooth_activation_gradients_match_finite_differences(name):
    with jax.enable_x64(True):
        check_grads(ACTIVATIONS[name], (jnp.linspace(-3.0, 3.0, 13),), order=2, modes=["rev"])


def test_relu_gradient_away_from_the_kink():
    with jax.enable_x64(True):
        x = jnp.array([-2.0, -0.7, -0.1, 0.1, 0.6, 2.5])
        check_grads(relu, (x,), order=2, modes=["rev"], eps=1e-3)
        np.testing.assert_array_equal(jax.vmap(jax.grad(relu))(x), [0.0, 0.0, 0.0, 1.0, 1.0, 1.0])


def test_activation_knows_exactly_the_four_names():
    assert sorted(ACTIVATIONS) == ["relu", "scaled_tanh", "sigmoid", "tanh"]


def test_unknown_activation_names_the_known_ones():
    with pytest.raises(ValueError) as error:
        activation("rleu")
    message = str(error.value)
    assert "'rleu'" in message and "Did you mean 'relu'" in message
    for name in ("relu", "scaled_tanh", "sigmoid", "tanh"):
        assert name in message
