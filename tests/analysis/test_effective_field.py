"""The effective receptive field against numpy/scipy: a stack of box filters has, as its gradient, the
repeated 2-D convolution of the box (Luo et al.'s Gaussian limit), computed here by scipy."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal

from cnn.analysis import effective_field, layer_output
from cnn.analysis.effective_field import mass_radius


class Boxes(nn.Module):
    """`depth` linear 3×3 convolutions, padded, with kernels set to ones by the test."""

    depth: int

    @nn.compact
    def __call__(self, x, train=False):
        for i in range(self.depth):
            x = nn.Conv(1, (3, 3), padding=1, use_bias=False, name=f"box{i}")(x)
        return x, {"last": x}


def _ones(model, shape):
    variables = model.init(jax.random.key(0), jnp.zeros((1, *shape)))
    return jax.tree.map(jnp.ones_like, variables)


@pytest.mark.parametrize("depth", [1, 4])
def test_the_gradient_of_box_filters_is_the_repeated_box_convolution(depth):
    shape = (21, 21, 1)
    model = Boxes(depth)
    erf = effective_field(model, _ones(model, shape), np.random.default_rng(0).normal(size=(3, *shape)),
                          f"box{depth - 1}")
    impulse = np.zeros(shape[:2])
    impulse[10, 10] = 1.0
    expected = impulse
    for _ in range(depth):
        expected = signal.convolve2d(expected, np.ones((3, 3)), mode="same")
    np.testing.assert_allclose(erf.gradient, expected, rtol=1e-5)
    assert erf.unit == (10, 10) and erf.center == (10.0, 10.0)
    assert erf.theoretical.size == (2 * depth + 1,) * 2


def test_mass_radii_by_brute_force():
    rng = np.random.default_rng(1)
    gradient = rng.random((15, 12))
    center = (6.5, 4.0)
    rows, cols = np.indices(gradient.shape)
    distance = np.maximum(np.abs(rows - center[0]), np.abs(cols - center[1]))
    for fraction in (0.5, 0.95):
        expected = min(r for r in np.unique(distance) if gradient[distance <= r].sum() >= fraction * gradient.sum())
        assert mass_radius(gradient, center, fraction) == expected
    with pytest.raises(ValueError, match="zero everywhere"):
        mass_radius(np.zeros((3, 3)), (1, 1), 0.5)


def test_the_effective_field_is_a_fraction_of_the_theoretical_one():
    # Luo et al.: the mass concentrates near the centre; 8 box layers have a 17×17 field, but 95% of
    # the gradient lies within a much smaller radius.
    shape = (33, 33, 1)
    model = Boxes(8)
    erf = effective_field(model, _ones(model, shape), np.zeros((1, *shape)), "tap:last")
    assert erf.radius50 < erf.radius95 < 8 and erf.radius50 <= 3


def test_layer_output_and_effective_field_name_bad_layers():
    shape = (9, 9, 1)
    model = Boxes(1)
    variables = _ones(model, shape)
    x = jnp.zeros((1, *shape))
    assert layer_output(model, variables, x, "tap:last").shape == (1, 9, 9, 1)
    with pytest.raises(ValueError, match="no tap 'nope'.*'last'"):
        layer_output(model, variables, x, "tap:nope")
    with pytest.raises(ValueError, match="no module 'box7'"):
        layer_output(model, variables, x, "box7")

    class Head(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            return nn.Dense(2, name="fc")(x.reshape(x.shape[0], -1))

    head = Head()
    with pytest.raises(ValueError, match="no spatial output"):
        effective_field(head, head.init(jax.random.key(0), x), x, "fc")
