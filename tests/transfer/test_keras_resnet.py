"""Keras Applications' ResNet50, ResNet101, ResNet152 (v1) and ResNet50V2 (weights=None) imported into
ours compute Keras's logits, once built with the fields where Keras differs from torchvision and the paper.

v1: the stride in the first 1×1 of each bottleneck, biases on every convolution, BN ε = 1.001e-5.
V2: a bare stem convolution (the first block pre-activates), each stage's stride in the last block of the
stage before (its shortcut a 1×1/2 max pool), a zero-padded stem pool, biases on the convolutions that no
BN follows, BN ε = 1.001e-5. The Keras weights are random with non-trivial BN statistics
(`keras_reference`), so a layer paired with the wrong Keras layer changes the logits.

Both sides run eagerly: the four nets repeat the same few layer shapes, so each operation compiles once
for all of them, where a jit per net would compile every net whole.
"""

import math

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from keras_testing import keras_reference

import cnn.models
from cnn.transfer.keras import import_keras

V1 = {"stride_in_1x1": True, "conv_bias": True, "bn_epsilon": 1.001e-5}
V2 = {"stem_norm": False, "downsample": "last", "pool_zero_padding": True, "conv_bias": True,
      "bn_epsilon": 1.001e-5}
# 66 → stem 33 → pool 17 → 9 → 5 → 3: odd maps, where the stem pool reads both sides' zero padding.
SIZE = 66
CASES = {"ResNet50": ("resnet50", V1), "ResNet101": ("resnet101", V1), "ResNet152": ("resnet152", V1),
         "ResNet50V2": ("resnet50_v2", V2)}


@pytest.fixture(scope="module")
def keras_resnet():
    """application name -> (Keras model, input, Keras's logits), each built once for the module."""
    built = {}

    def get(application: str):
        if application not in built:
            reference = keras_reference(getattr(keras.applications, application), input_shape=(SIZE, SIZE, 3),
                                        classes=10)
            x = np.random.default_rng(1).normal(size=(2, SIZE, SIZE, 3)).astype(np.float32)
            built[application] = reference, x, np.asarray(reference(x, training=False))
        return built[application]

    return get


def _our_logits(reference: keras.Model, name: str, x: np.ndarray, **overrides) -> np.ndarray:
    variables = import_keras(reference, name, **overrides)
    model = cnn.models.create(name, num_classes=10, **overrides)
    return np.asarray(model.apply(variables, jnp.asarray(x))[0])


@pytest.mark.parametrize("application", sorted(CASES))
def test_imported_keras_resnet_computes_keras_logits(keras_resnet, application):
    reference, x, theirs = keras_resnet(application)
    name, overrides = CASES[application]
    ours = _our_logits(reference, name, x, **overrides)
    assert theirs.shape == ours.shape == (2, 10) and np.abs(theirs).std() > 1e-3
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


@pytest.mark.parametrize("application", sorted(CASES))
def test_parameter_and_statistics_count_equals_keras(keras_resnet, application):
    reference, _, _ = keras_resnet(application)
    name, overrides = CASES[application]
    model = cnn.models.create(name, num_classes=10, **overrides)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, SIZE, SIZE, 3)))
    assert sum(math.prod(v.shape) for v in jax.tree.leaves(variables)) == reference.count_params()


@pytest.mark.parametrize("application, field, value", [
    ("ResNet50", "stride_in_1x1", False),  # torchvision's v1.5 stride placement
    ("ResNet50V2", "downsample", "first"),  # the paper's stride placement
    ("ResNet50V2", "pool_zero_padding", False),  # −∞ padding, as torchvision's max pool
])
def test_each_keras_field_is_needed(keras_resnet, application, field, value):
    reference, x, theirs = keras_resnet(application)
    name, overrides = CASES[application]
    ours = _our_logits(reference, name, x, **{**overrides, field: value})
    assert not np.allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())
