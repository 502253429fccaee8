"""EfficientNet B0, B1 and B3 against Keras Applications' EfficientNetB0/B1/B3 (weights=None): imported, ours computes
Keras's logits once built with Keras's fields (TensorFlow "SAME" padding, BN ε = 1e-3), and Keras's trainable
parameter count at 1000 classes is torchvision's. B0 is the base, B1 scales depth only, B3 width too (its stem,
make_divisible(32 · 1.2) = 40, is one of the widths rounded up by the 10% rule); the other five, same code with
other coefficients, would cost 5–10 s each (B7's 55 blocks: 10 s of CPU) and are proven equal in the count
tests (tests/models/test_efficientnet.py) only."""

from functools import cache

import keras
import numpy as np
import pytest
from keras_testing import after_preprocessing, assert_same_logits, keras_reference, standardize_batch_norms

# torchvision's num_params of efficientnet_b0 … b7.
TORCHVISION = [5_288_548, 7_794_184, 9_109_994, 12_233_232, 19_341_616, 30_389_784, 43_040_704, 66_347_960]
# 40 → 20 → 10 → 5 → 3 → 2: two stride-2 depthwise layers see odd sizes, where "SAME" pads (k//2, k//2)
# as the torch style does, three see even ones, where "SAME" pads (k//2 − 1, k//2).
SIZE = 40


@cache
def efficientnet_reference(n: int) -> keras.Model:
    """Keras's EfficientNetB{n}, 10 classes, random weights with every BN standardising its input on a batch
    of 8 random images, from the stem convolution on (after Keras's Rescaling and Normalization, which our
    model does not have: it takes the standardised image)."""
    reference = after_preprocessing(keras_reference(getattr(keras.applications, f"EfficientNetB{n}"),
                                                    input_shape=(SIZE, SIZE, 3), classes=10))
    standardize_batch_norms(reference, np.random.default_rng(2).normal(size=(8, SIZE, SIZE, 3)).astype(np.float32))
    return reference


@pytest.mark.parametrize("n", [0, 1, 3])
def test_keras_efficientnet(n):
    reference = efficientnet_reference(n)
    trainable = sum(int(np.prod(w.shape)) for w in reference.trainable_weights)
    head = reference.get_layer("top_conv").filters
    assert trainable + (1000 - 10) * (head + 1) == TORCHVISION[n]  # the classifier at 1000 classes
    assert_same_logits(reference, f"efficientnet_b{n}", SIZE, padding_style="tf", bn_epsilon=1e-3)


def test_the_comparison_sees_the_padding():
    # The control: torchvision's symmetric padding differs from "SAME" only at the even sizes (the stem and
    # two stage-opening blocks); the logits must tell.
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        assert_same_logits(efficientnet_reference(0), "efficientnet_b0", SIZE, padding_style="torch", bn_epsilon=1e-3)
