"""Keras Applications' VGG16 and VGG19 (weights=None) imported into ours give the same logits.

Keras flattens the NHWC block5_pool map as we do, and its classifier has no dropout at inference, so
no override is needed: only the weights travel.
"""

import jax
import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cnn.models import create  # noqa: E402
from cnn.transfer.keras import import_keras  # noqa: E402


@pytest.mark.parametrize("name, build", [("vgg16", "VGG16"), ("vgg19", "VGG19")])
def test_keras_vgg_logits_equal_ours(name, build):
    keras.utils.set_random_seed(0)
    keras_model = getattr(keras.applications, build)(weights=None, classifier_activation=None)
    variables = import_keras(keras_model, name)
    x = np.asarray(jax.random.uniform(jax.random.key(0), (1, 224, 224, 3), minval=-1.0, maxval=1.0))
    theirs = np.asarray(keras_model(x, training=False))
    model = create(name, num_classes=1000)
    ours = np.asarray(jax.jit(lambda v, x: model.apply(v, x, train=False)[0])(variables, x))
    assert theirs.shape == ours.shape == (1, 1000)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())
