"""Inception v3 equals Keras's InceptionV3 (an independent implementation) given the same weights.

Keras's network is torchvision's but for batch norm without γ and border-aware average pooling in the
pool branches; those are our `bn_scale=False, pool_count_include_pad=False`. It has no auxiliary head.
"""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import cnn.models
from keras_testing import keras_reference
from cnn.transfer.keras import import_keras

SIZE = 75  # Keras's smallest input: the whole network, 1×1 at the end, at a fraction of 299's cost
CLASSES = 10
KERAS_OVERRIDES = {"aux_logits": False, "bn_scale": False, "pool_count_include_pad": False}


@pytest.fixture(scope="module")
def keras_inception():
    return keras_reference(keras.applications.InceptionV3, input_shape=(SIZE, SIZE, 3), classes=CLASSES)


def test_imported_inception_v3_computes_keras_logits(keras_inception):
    variables = import_keras(keras_inception, "inception_v3", **KERAS_OVERRIDES)
    x = np.random.default_rng(1).normal(size=(2, SIZE, SIZE, 3)).astype(np.float32)
    model = cnn.models.create("inception_v3", num_classes=CLASSES, **KERAS_OVERRIDES)
    ours = np.asarray(jax.jit(model.apply)(variables, jnp.asarray(x))[0])
    theirs = keras_inception.predict(x, verbose=0)
    assert ours.shape == theirs.shape == (2, CLASSES)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


def test_trainable_parameters_equal_keras_count(keras_inception):
    model = cnn.models.create("inception_v3", num_classes=CLASSES, **KERAS_OVERRIDES)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, SIZE, SIZE, 3)))
    ours = sum(leaf.size for leaf in jax.tree.leaves(variables["params"]))
    assert ours == sum(int(np.prod(w.shape)) for w in keras_inception.trainable_weights)
