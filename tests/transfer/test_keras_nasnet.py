"""NASNet-A Mobile and Large against Keras Applications' NASNetMobile / NASNetLarge (weights=None): imported, ours
computes Keras's logits with its defaults; Keras's trainable parameters are the counts tests/models/test_nasnet.py
asserts for ours."""

import math

import keras
import pytest
from keras_testing import assert_same_logits, keras_reference

# Sizes where every stride-2 layer sees the parity it sees at the native size, so each "SAME" pad sits where
# it does there: 64 → 31 → 16 → 8 → 4 → 2 as 224 → 111 → 56 → 28 → 14 → 7 (odd, then even);
# 43 → 21 → 11 → 6 → 3 → 2 as 331 → 165 → 83 → 42 → 21 → 11 (odd, odd, even, odd).
CASES = {"nasnet_a_mobile": (keras.applications.NASNetMobile, 64),
         "nasnet_a_large": (keras.applications.NASNetLarge, 43)}
# Ours at 1000 classes (tests/models/test_nasnet.py).
OURS = {"nasnet_a_mobile": 5_289_978, "nasnet_a_large": 88_753_150}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    application, size = CASES[request.param]
    return request.param, size, keras_reference(application, input_shape=(size, size, 3), classes=10)


def test_keras_trainable_parameters_are_ours(case):
    name, _, reference = case
    trainable = sum(math.prod(weight.shape) for weight in reference.trainable_weights)
    features = reference.get_layer("predictions").kernel.shape[0]
    assert trainable + (1000 - 10) * (features + 1) == OURS[name]


def test_keras_nasnet_logits(case):
    name, size, reference = case
    assert_same_logits(reference, name, size)
