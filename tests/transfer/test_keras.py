"""The Keras importer itself, on LeNet-5 rebuilt layer by layer in Keras (an independent implementation)."""

import jax.numpy as jnp
import keras
import numpy as np
import pytest

import cnn.models
from cnn.transfer.keras import import_keras


def _keras_lenet5(num_classes: int = 10, c3_filters: int = 16) -> keras.Model:
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.ZeroPadding2D(2),
        keras.layers.Conv2D(6, 5, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(c3_filters, 5, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(120, 5, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(84, activation="relu"),
        keras.layers.Dense(num_classes),
    ], name="keras_lenet5")


def test_imported_lenet5_computes_keras_logits():
    keras.utils.set_random_seed(0)
    reference = _keras_lenet5(num_classes=7)
    variables = import_keras(reference, "lenet5")
    x = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype(np.float32)
    ours, _ = cnn.models.create("lenet5", num_classes=7).apply(variables, jnp.asarray(x), train=False)
    theirs = np.asarray(reference(x, training=False))
    assert ours.shape == (4, 7)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5 * np.abs(theirs).max())


def test_a_layer_without_counterpart_is_named_with_its_shapes():
    with pytest.raises(ValueError, match=r"our conv layer c3 \{'bias': \(16,\), 'kernel': \(5, 5, 6, 16\)\} has no unpaired"):
        import_keras(_keras_lenet5(c3_filters=8), "lenet5")


def test_keras_layers_left_over_are_listed():
    reference = keras.Sequential([*_keras_lenet5().layers, keras.layers.Dense(10, name="extra_head")])
    reference.build((None, 28, 28, 1))
    with pytest.raises(ValueError, match="Keras layers with no counterpart in ours: extra_head"):
        import_keras(reference, "lenet5")
