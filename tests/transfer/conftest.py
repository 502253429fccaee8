"""Keras reference models with every batch norm made distinct.

A fresh Keras model's batch norms are all alike (γ 1, β 0, mean 0, var 1), so an importer that
swapped two same-shaped ones would still reproduce the logits; with distinct values it cannot.
"""

import keras
import numpy as np
import pytest

_DRAWS = {
    "gamma": lambda rng, c: rng.uniform(0.5, 1.5, c),
    "beta": lambda rng, c: 0.1 * rng.normal(size=c),
    "moving_mean": lambda rng, c: 0.1 * rng.normal(size=c),
    "moving_variance": lambda rng, c: rng.uniform(0.5, 1.5, c),
}


def _distinguish(model: keras.Model, seed: int = 0) -> keras.Model:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([_DRAWS[w.path.split("/")[-1]](rng, w.shape[0]) for w in layer.weights])
    return model


@pytest.fixture(scope="session")
def distinct_batch_norms():
    """`distinct_batch_norms(keras_model)` gives each batch norm of the model its own random values."""
    return _distinguish
