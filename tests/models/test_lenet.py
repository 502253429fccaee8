import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnn.models


def _params(num_classes=10, size=28, **overrides):
    model = cnn.models.create("lenet5", num_classes=num_classes, **overrides)
    variables = model.init(jax.random.key(0), jnp.zeros((1, size, size, 1)))
    return model, variables


def test_parameter_count_matches_the_hand_count():
    # (in·k·k + 1)·out per layer: C1, C3, C5 (convolutions), F6 and the output layer.
    expected = (1 * 25 + 1) * 6 + (6 * 25 + 1) * 16 + (16 * 25 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * 10
    _, variables = _params()
    assert sum(x.size for x in jax.tree.leaves(variables)) == expected == 61_706


def test_apply_returns_logits_and_paper_named_taps():
    model, variables = _params(num_classes=7)
    logits, taps = model.apply(variables, jnp.ones((3, 28, 28, 1)), train=False)
    assert logits.shape == (3, 7)
    shapes = {k: v.shape[1:] for k, v in taps.items()}
    assert shapes == {"c1": (28, 28, 6), "s2": (14, 14, 6), "c3": (10, 10, 16), "s4": (5, 5, 16),
                      "c5": (1, 1, 120), "f6": (84,)}


def test_s2_is_2x2_max_pooling_of_c1():
    model, variables = _params()
    x = jax.random.normal(jax.random.key(1), (2, 28, 28, 1))
    _, taps = model.apply(variables, x)
    c1 = np.asarray(taps["c1"])
    expected = c1.reshape(2, 14, 2, 14, 2, 6).max(axis=(2, 4))
    np.testing.assert_allclose(taps["s2"], expected, rtol=0, atol=0)


def test_paper_sized_32x32_input_without_padding():
    model, variables = _params(size=32, c1_padding=0)
    logits, taps = model.apply(variables, jnp.zeros((1, 32, 32, 1)))
    assert taps["c1"].shape == (1, 28, 28, 6) and logits.shape == (1, 10)


def test_wrong_input_size_explains_the_fix():
    with pytest.raises(ValueError, match="feed 28×28 images with c1_padding=2 or 32×32 images with c1_padding=0"):
        _params(size=32)


def test_registry_lists_and_suggests():
    assert "lenet5" in cnn.models.names()
    with pytest.raises(ValueError, match="unknown model 'lenet_5'. Did you mean 'lenet5'"):
        cnn.models.create("lenet_5", num_classes=10)
