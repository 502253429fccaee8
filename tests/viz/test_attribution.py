"""Saliency, deconvnet and guided backpropagation against finite differences and hand-derived gates."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn.layers.activations import relu, relu_backward
from cnn.models import create
from cnn.viz.attribution import deconvnet, guided_backprop, input_gradient, saliency


class TwoLayer(nn.Module):
    """logits = W2ᵀ relu(W1ᵀ x + b1): one ReLU whose incoming gradient is W2's row of the class."""

    @nn.compact
    def __call__(self, x, train=False):
        hidden = relu(nn.Dense(12, name="hidden")(x.reshape(x.shape[0], -1)))
        return nn.Dense(4, name="out")(hidden), {"hidden": hidden}


def _two_layer():
    model = TwoLayer()
    x = jax.random.normal(jax.random.key(1), (3, 5, 5, 1))
    return model, model.init(jax.random.key(0), x), x


def test_saliency_is_the_finite_difference_gradient_of_the_class_logit():
    model = create("lenet5", num_classes=10)
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(1), (2, 28, 28, 1), jnp.float64)
        variables = jax.tree.map(lambda p: p.astype(jnp.float64), model.init(jax.random.key(0), x))
        classes = np.array([3, 7])
        gradient = np.asarray(input_gradient(model, variables, x, classes))
        logit = jax.jit(lambda x: model.apply(variables, x)[0][np.arange(2), classes])
        rng = np.random.default_rng(0)
        for _ in range(6):
            i, r, c = rng.integers(0, 2), rng.integers(0, 28), rng.integers(0, 28)
            step = jnp.zeros_like(x).at[i, r, c, 0].set(1e-6)
            numeric = (logit(x + step)[i] - logit(x - step)[i]) / 2e-6
            np.testing.assert_allclose(gradient[i, r, c, 0], numeric, rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(saliency(model, variables, x, classes), np.abs(gradient).max(-1))


def test_the_three_rules_gate_the_signal_at_the_relu_as_the_papers_say():
    model, variables, x = _two_layer()
    classes = np.array([0, 2, 3])
    w1 = np.asarray(variables["params"]["hidden"]["kernel"])  # (25, 12)
    w2 = np.asarray(variables["params"]["out"]["kernel"])  # (12, 4)
    pre = x.reshape(3, -1) @ w1 + np.asarray(variables["params"]["hidden"]["bias"])
    incoming = w2[:, classes].T  # the gradient arriving at the ReLU's output, per image
    gates = {"gradient": pre > 0, "deconvnet": incoming > 0, "guided": (pre > 0) & (incoming > 0)}
    for rule, gate in gates.items():
        expected = ((incoming * gate) @ w1.T).reshape(x.shape)
        np.testing.assert_allclose(input_gradient(model, variables, x, classes, rule), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(guided_backprop(model, variables, x, classes),
                               input_gradient(model, variables, x, classes, "guided"))
    np.testing.assert_allclose(deconvnet(model, variables, x, classes),
                               input_gradient(model, variables, x, classes, "deconvnet"))


def test_guided_backprop_differs_from_the_gradient_exactly_where_a_negative_signal_passes_a_relu():
    model, variables, x = _two_layer()
    classes = np.array([1, 1, 1])
    w1 = np.asarray(variables["params"]["hidden"]["kernel"])
    w2 = np.asarray(variables["params"]["out"]["kernel"])
    pre = x.reshape(3, -1) @ w1 + np.asarray(variables["params"]["hidden"]["bias"])
    blocked = (pre > 0) & (w2[:, 1] < 0)  # open ReLUs whose arriving gradient is negative: guided drops them
    difference = input_gradient(model, variables, x, classes) - guided_backprop(model, variables, x, classes)
    expected = ((w2[:, 1] * blocked) @ w1.T).reshape(x.shape)
    assert blocked.any() and not blocked.all()
    np.testing.assert_allclose(difference, expected, rtol=1e-5, atol=1e-6)


def test_the_rule_only_lasts_inside_its_block_and_unknown_rules_are_named():
    model, variables, x = _two_layer()
    plain = input_gradient(model, variables, x, [1, 1, 1])
    guided_backprop(model, variables, x, [1, 1, 1])
    np.testing.assert_array_equal(input_gradient(model, variables, x, [1, 1, 1]), plain)
    with pytest.raises(ValueError, match="ReLU backward rule"):
        with relu_backward("guidd"):
            pass
    with pytest.raises(ValueError, match="one class per image"):
        input_gradient(model, variables, x, [1, 2])


def test_guided_backprop_runs_through_a_batch_normalised_residual_network():
    model = create("resnet18", num_classes=10)
    x = jax.random.normal(jax.random.key(1), (1, 32, 32, 3))
    variables = jax.jit(lambda x: model.init(jax.random.key(0), x))(x)
    plain, guided = input_gradient(model, variables, x, [4]), guided_backprop(model, variables, x, [4])
    assert plain.shape == guided.shape == x.shape and np.isfinite(guided).all()
    assert not np.allclose(plain, guided)


def test_a_feature_maps_strongest_unit_is_sent_back_alone():
    model, variables, x = _two_layer()
    w1 = np.asarray(variables["params"]["hidden"]["kernel"])
    hidden = np.asarray(model.apply(variables, x)[1]["hidden"])  # (3, 12): one "position" per image
    channel = int(np.argmax(hidden.max(axis=0)))
    open_gate = np.where(hidden[:, channel:channel + 1] > 0, w1[:, channel], 0.0).reshape(x.shape)
    # the seed gradient is +1, so guided = gradient (the ReLU's forward gate), and deconvnet passes it even
    # through a closed ReLU
    expected = {"gradient": open_gate, "guided": open_gate, "deconvnet": np.broadcast_to(w1[:, channel], (3, 25))}
    assert not np.all(hidden[:, channel] > 0)
    for rule, want in expected.items():
        got = input_gradient(model, variables, x, None, rule, "hidden", channel)
        np.testing.assert_allclose(got, want.reshape(x.shape), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="out of range"):
        input_gradient(model, variables, x, None, "guided", "hidden", 12)
    with pytest.raises(ValueError, match="not both"):
        input_gradient(model, variables, x, [1, 1, 1], "guided", "hidden", 0)
