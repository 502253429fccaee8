"""Keras Applications references for the import tests: built cheaply, every weight random, run under one jit."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import cnn.models
from cnn.transfer.keras import import_keras

# These graphs are compiled once each and run on a few images: XLA's CPU backend optimisations take
# longer than they save, and halving compile time keeps the suite fast. Numerics are unaffected.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True,
                "xla_cpu_use_fusion_emitters": False}


def _zeros(self, shape, dtype=None):
    return np.zeros(shape, dtype or "float32")


def keras_reference(application, seed: int = 0, **kwargs) -> keras.Model:
    """`application(weights=None, classifier_activation=None, **kwargs)` with random weights (`randomize`).

    Keras draws each initial kernel with jax.random, one XLA compilation per kernel shape, which is most
    of the time it takes to build a DenseNet; they are overwritten anyway, so the build draws zeros.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.initializers.VarianceScaling, "__call__", _zeros)
        model = application(weights=None, classifier_activation=None, **kwargs)
    randomize(model, seed)
    return model


def randomize(model: keras.Model, seed: int) -> None:
    """Kernels U(±sqrt(6/fan_in)) (He: ReLU networks keep their scale), γ and running variances U(0.5, 1.5),
    β, biases and running means N(0, 0.2²). Keras's fresh batch norms (γ = 1, β = 0, mean 0, var 1) are
    nearly the identity, so a batch norm paired with the wrong layer would go unnoticed."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for weight in layer.weights:
            shape = tuple(weight.shape)
            if weight.name == "kernel":
                depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
                fan_in = math.prod(shape[:2] if depthwise else shape[:-1])
                value = rng.uniform(-1, 1, shape) * math.sqrt(6 / fan_in)
            elif weight.name in ("gamma", "moving_variance"):
                value = rng.uniform(0.5, 1.5, shape)
            else:
                value = rng.normal(0, 0.2, shape)
            weight.assign(value.astype(np.float32))


def after_preprocessing(model: keras.Model) -> keras.Model:
    """`model` from its first layer after the input's Rescaling and Normalization layers on: the network proper,
    fed the standardised image (Keras's EfficientNets standardise inside the model; our models take it
    standardised). The sub-model shares `model`'s layers and weights."""
    first = next(layer for layer in model.layers[1:] if type(layer).__name__ not in ("Rescaling", "Normalization"))
    return keras.Model(first.input, model.output)


def standardize_batch_norms(model: keras.Model, x: np.ndarray, min_variance: float = 0.2) -> None:
    """Sets every BatchNormalization's moving mean and variance to the statistics of its input on the batch x,
    the variances floored at `min_variance`: one training-mode pass with momentum 0, so each layer sees the
    layers before it already standardising (Keras's dropout is active in that pass: the statistics need the
    right scale, not exactness).

    For deep networks whose stages start without a shortcut (EfficientNet): under `randomize`'s statistics,
    which do not match the activations, the input's share of each map shrinks about tenfold per stage, and
    Keras's logits ended up independent of the input to 1e-6 (a wrong padding in the stem passed the logits
    comparison). Standardised, every map depends on the input; the floor bounds each channel's gain by
    1/sqrt(min_variance), which keeps the random network out of the chaotic regime where float32 round-off
    grows block by block (at a floor of 0.1, B7's logits differed by 5e-5 between two exact implementations).
    """
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    call = jax.jit(lambda trainable, fixed, inputs: model.stateless_call(trainable, fixed, inputs, training=True)[1],
                   compiler_options=FAST_COMPILE)
    updated = call([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables], x)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    for variable, value in zip(model.non_trainable_variables, updated):
        variable.assign(value)
    for layer in norms:
        layer.moving_variance.assign(np.maximum(np.asarray(layer.moving_variance), min_variance))


def keras_logits(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Keras's inference output on x, its layers traced into one jitted function (eagerly, Keras would
    compile every layer separately)."""
    call = jax.jit(lambda trainable, fixed, inputs: model.stateless_call(trainable, fixed, inputs, training=False)[0],
                   compiler_options=FAST_COMPILE)
    return np.asarray(call([v.value for v in model.trainable_variables],
                           [v.value for v in model.non_trainable_variables], x))


def assert_same_logits(reference: keras.Model, name: str, size: int, **overrides) -> None:
    """Imports `reference` into zoo model `name` (with `overrides`) and compares logits on random images."""
    variables = import_keras(reference, name, **overrides)
    model = cnn.models.create(name, num_classes=int(reference.output_shape[-1]), **overrides)
    x = np.random.default_rng(1).normal(size=(2, size, size, 3)).astype(np.float32)
    ours, _ = jax.jit(model.apply, compiler_options=FAST_COMPILE)(variables, jnp.asarray(x))
    theirs = keras_logits(reference, x)
    assert theirs.shape == (2, reference.output_shape[-1]) and np.abs(theirs).std() > 1e-3
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())
