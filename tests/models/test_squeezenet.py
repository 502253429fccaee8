import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import cnn.models
from zoo_testing import random_variables
from cnn.models.squeezenet import Fire

# torchvision's published parameter counts (1000 classes).
TORCHVISION = {"squeezenet1_0": 1_248_424, "squeezenet1_1": 1_235_496}
# torchvision's layers: conv1 (kernel, filters), Fire (C_in, squeeze, expand) in order.
_FIRES_1_0 = [(96, 16, 64), (128, 16, 64), (128, 32, 128), (256, 32, 128), (256, 48, 192), (384, 48, 192),
              (384, 64, 256), (512, 64, 256)]
_FIRES_1_1 = [(64, 16, 64), (128, 16, 64), (128, 32, 128), (256, 32, 128), (256, 48, 192), (384, 48, 192),
              (384, 64, 256), (512, 64, 256)]
LAYERS = {"squeezenet1_0": ((7, 96), _FIRES_1_0), "squeezenet1_1": ((3, 64), _FIRES_1_1)}
# Shapes at 224 from PyTorch's formulas: conv floor((n − k)/2) + 1, ceil-mode pool ceil((n − 3)/2) + 1.
SHAPES = {
    "squeezenet1_0": {"conv1": (109, 109, 96), "fire2": (54, 54, 128), "fire3": (54, 54, 128),
                      "fire4": (54, 54, 256), "fire5": (27, 27, 256), "fire6": (27, 27, 384),
                      "fire7": (27, 27, 384), "fire8": (27, 27, 512), "fire9": (13, 13, 512),
                      "conv10": (13, 13, 1000)},
    "squeezenet1_1": {"conv1": (111, 111, 64), "fire2": (55, 55, 128), "fire3": (55, 55, 128),
                      "fire4": (27, 27, 256), "fire5": (27, 27, 256), "fire6": (13, 13, 384),
                      "fire7": (13, 13, 384), "fire8": (13, 13, 512), "fire9": (13, 13, 512),
                      "conv10": (13, 13, 1000)},
}


def _hand_count(name, classes=1000):
    (k, stem), fires = LAYERS[name]
    total = (k * k * 3 + 1) * stem + (512 + 1) * classes
    for c_in, s, e in fires:
        total += (c_in + 1) * s + (s + 1) * e + (9 * s + 1) * e
    return total


def _random_variables(model, x):
    return random_variables(jax.eval_shape(model.init, jax.random.key(0), x))


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_parameter_count_equals_torchvision(name):
    model = cnn.models.create(name, num_classes=1000)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 224, 224, 3)))
    assert sum(leaf.size for leaf in jax.tree.leaves(variables["params"])) == TORCHVISION[name] == _hand_count(name)


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_real_forward_backward_at_224(name):
    model = cnn.models.create(name, num_classes=1000)
    x = jax.random.normal(jax.random.key(0), (1, 224, 224, 3))
    variables = _random_variables(model, x)

    @jax.jit
    def step(params):
        def loss(params):
            logits, taps = model.apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(2)})
            return optax.softmax_cross_entropy_with_integer_labels(logits, jnp.array([5])).mean(), (logits, taps)
        return jax.value_and_grad(loss, has_aux=True)(params)

    (value, (logits, taps)), grads = step(variables["params"])
    assert logits.shape == (1, 1000) and np.isfinite(value)
    # The head is conv10 → ReLU → global average: the logits cannot be negative.
    assert float(logits.min()) >= 0
    assert {k: v.shape[1:] for k, v in taps.items()} == SHAPES[name]
    norms = {k: float(optax.tree.norm(g)) for k, g in grads.items()}
    assert all(np.isfinite(n) and n > 0 for n in norms.values()), norms


def test_fire_concatenates_the_1x1_expansion_before_the_3x3():
    x = jax.random.normal(jax.random.key(0), (1, 6, 6, 8))
    fire = Fire(squeeze=4, expand=5)
    params = _random_variables(fire, x)["params"]
    y = jax.jit(fire.apply)({"params": params}, x)
    # Reference: numpy 1×1 convolutions and an explicitly padded 3×3 correlation.
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    sq = relu(np.einsum("nhwc,co->nhwo", x, params["squeeze"]["kernel"][0, 0]) + params["squeeze"]["bias"])
    e1 = relu(np.einsum("nhwc,co->nhwo", sq, params["expand1x1"]["kernel"][0, 0]) + params["expand1x1"]["bias"])
    padded = np.pad(sq, ((0, 0), (1, 1), (1, 1), (0, 0)))
    k3 = np.asarray(params["expand3x3"]["kernel"])
    e3 = sum(np.einsum("nhwc,co->nhwo", padded[:, a:a + 6, b:b + 6], k3[a, b]) for a in range(3) for b in range(3))
    e3 = relu(e3 + params["expand3x3"]["bias"])
    np.testing.assert_allclose(y, np.concatenate([e1, e3], axis=-1), rtol=1e-5, atol=1e-5)


def test_registered_names():
    assert set(TORCHVISION) <= set(cnn.models.names())
    assert cnn.models.spec("squeezenet1_1").input_shape == (224, 224, 3)
