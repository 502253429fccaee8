"""MobileNet v1, v2 and v3 (large, small) against Keras Applications' (weights=None): imported, ours computes
Keras's logits once built with Keras's fields (TensorFlow "SAME" padding, BN ε = 1e-3, v1's ReLU6)."""

import jax
import keras
import pytest
from keras_testing import assert_same_logits, keras_reference


def test_keras_mobilenet_v1():
    # 64 keeps every stride-2 input even, where Keras's fixed (0, 1) padding is TensorFlow's "SAME".
    reference = keras_reference(keras.applications.MobileNet, input_shape=(64, 64, 3), alpha=1.0, classes=10)
    assert_same_logits(reference, "mobilenet_v1", 64, activation=jax.nn.relu6, padding_style="tf", bn_epsilon=1e-3)


# 72 → 36 → 18 → 9 → 5 → 3: two stride-2 layers see odd sizes, where "SAME" pads (1, 1) instead of (0, 1).
@pytest.mark.parametrize("name, application, keras_options, ours", [
    ("mobilenet_v2", keras.applications.MobileNetV2, {}, {"bn_epsilon": 1e-3}),
    ("mobilenet_v3_large", keras.applications.MobileNetV3Large, {"include_preprocessing": False}, {}),
    ("mobilenet_v3_small", keras.applications.MobileNetV3Small, {"include_preprocessing": False}, {}),
])
def test_keras_mobilenet_v2_v3(name, application, keras_options, ours):
    reference = keras_reference(application, input_shape=(72, 72, 3), classes=10, **keras_options)
    assert_same_logits(reference, name, 72, padding_style="tf", **ours)
