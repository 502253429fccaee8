"""DenseNet-121/169/201 against Keras Applications' (weights=None): imported, ours computes Keras's logits."""

from __future__ import annotations

import keras
import pytest
from keras_testing import assert_same_logits, keras_reference


# 64 → stem 16 → transitions 8, 4, 2: every pooling divides exactly, as at 224.
@pytest.mark.parametrize("name, application", [
    ("densenet121", keras.applications.DenseNet121),
    ("densenet169", keras.applications.DenseNet169),
    ("densenet201", keras.applications.DenseNet201),
])
def test_imported_keras_densenet_computes_keras_logits(name, application):
    reference = keras_reference(application, input_shape=(64, 64, 3), classes=10)
    assert_same_logits(reference, name, 64, bn_epsilon=1.001e-5)

