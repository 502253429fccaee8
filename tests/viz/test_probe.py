"""Named layers: activations by tap or module path, and the gradient with respect to a layer that a skip
connection goes around, checked against the hand-derived partial derivative."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn.layers.activations import relu
from cnn.models import create
from cnn.viz.probe import activations, layer_gradient, spatial_taps, tap_shapes


class Skip(nn.Module):
    """z = relu(h) + x, h = conv(x) a tap no module returns after the ReLU; logits = Dense(flatten(z))."""

    @nn.compact
    def __call__(self, x, train=False):
        h = nn.Conv(2, (3, 3), padding="SAME", name="conv")(x)
        rectified = relu(h)
        z = rectified + x
        return nn.Dense(3, name="head")(z.reshape(x.shape[0], -1)), {"rectified": rectified, "z": z}


def test_the_gradient_at_a_tap_holds_the_skip_path_fixed():
    model = Skip()
    x = jax.random.normal(jax.random.key(1), (2, 4, 4, 2))
    variables = model.init(jax.random.key(0), x)
    head = np.asarray(variables["params"]["head"]["kernel"]).reshape(4, 4, 2, 3)
    value, gradient = layer_gradient(model, variables, x, "rectified", [2, 0])
    np.testing.assert_allclose(value, activations(model, variables, x, ["rectified"])["rectified"])
    # ∂y_c/∂relu(h) is the head's weights; through x (the skip) nothing reaches it
    np.testing.assert_allclose(gradient, np.stack([head[..., 2], head[..., 0]]), rtol=1e-6)
    # at the module "conv" (h, before the ReLU) the ReLU's gate applies
    value, gradient = layer_gradient(model, variables, x, "conv", [2, 0])
    np.testing.assert_allclose(gradient, np.stack([head[..., 2], head[..., 0]]) * (np.asarray(value) > 0), rtol=1e-6)


def test_taps_come_in_the_order_the_model_computes_them_and_unknown_layers_are_named():
    model = create("lenet5", num_classes=10)
    variables = model.init(jax.random.key(0), jnp.ones((1, 28, 28, 1)))
    assert list(tap_shapes(model, variables, (28, 28, 1))) == ["c1", "s2", "c3", "s4", "c5", "f6"]
    assert spatial_taps(model, variables, (28, 28, 1)) == ["c1", "s2", "c3", "s4"]
    with pytest.raises(ValueError, match=r"no tap or module 'c4'.*'c3'"):
        activations(model, variables, jnp.ones((1, 28, 28, 1)), ["c4"])
