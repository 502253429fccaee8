"""Activation maximisation against closed forms on linear models and against random inputs on LeNet-5.

For a score linear in the input, S(x) = ⟨g, x⟩ + b, the gradient is the constant g, so from a zero start with
no jitter the ascent is a recurrence numpy can run: x ← (1 − l2)(x + η g / rms(g)), blurred by
scipy.ndimage.gaussian_filter every `blur_every` steps: the class visualisation of a linear model is its weight
template, scaled and smoothed.
"""

import flax.linen as nn
import jax
import numpy as np
import pytest
from scipy import ndimage

from cnn.models import create
from cnn.viz.activation_max import activation_maximization, plot_activation_max
from tests.viz.weights import random_variables

SHAPE = (8, 8, 2)


class Linear(nn.Module):
    """Logits W·flatten(x) + b, and a linear 3×3 VALID convolution tapped as "conv": both linear in x."""

    @nn.compact
    def __call__(self, x, train=False):
        conv = nn.Conv(3, (3, 3), padding="VALID", name="conv")(x)
        logits = nn.Dense(4, name="head")(x.reshape(x.shape[0], -1))
        return logits, {"conv": conv}


@pytest.fixture(scope="module")
def linear():
    model = Linear()
    return model, jax.tree.map(np.asarray, random_variables(model, SHAPE))


@pytest.fixture(scope="module")
def lenet():
    model = create("lenet5", num_classes=10)
    return model, random_variables(model, (28, 28, 1))


def _linear_gradient(variables, class_index=None, channel=None):
    """g with S(x) = ⟨g, x⟩ + b, and b, from the weights alone."""
    params = variables["params"]
    if class_index is not None:
        head = params["head"]
        return head["kernel"][:, class_index].reshape(SHAPE), float(head["bias"][class_index])
    kernel, bias = params["conv"]["kernel"][..., channel], float(params["conv"]["bias"][channel])
    out_h, out_w = SHAPE[0] - 2, SHAPE[1] - 2
    g = np.zeros(SHAPE)
    for i in range(out_h):  # the mean over the output grid of Σ_{u,v,c} w[u,v,c] x[i+u, j+v, c]
        for j in range(out_w):
            g[i:i + 3, j:j + 3] += kernel / (out_h * out_w)
    return g, bias


def _ascent(g, steps, learning_rate, l2, blur_sigma=0.0, blur_every=1):
    step = learning_rate * g / np.sqrt(np.mean(g**2))
    x = np.zeros_like(g)
    for i in range(steps):
        x = (1 - l2) * (x + step)
        if blur_sigma and (i + 1) % blur_every == 0:
            x = np.stack([ndimage.gaussian_filter(x[..., c], blur_sigma) for c in range(x.shape[-1])], -1)
    return x


@pytest.mark.parametrize("target", [dict(class_index=2), dict(layer="conv", channel=1)])
@pytest.mark.parametrize("l2, blur_sigma", [(0.0, 0.0), (0.1, 0.0), (0.05, 0.8)])
def test_linear_scores_follow_the_closed_form_ascent(linear, target, l2, blur_sigma):
    """Pins the step (gradient scaled to unit RMS), the decay (1 − l2) and the blur every 3rd step; the final
    score is ⟨g, image⟩ + b and the history of a pure ascent grows by exactly η·rms(g)·n each step."""
    model, variables = linear
    g, b = _linear_gradient(variables, target.get("class_index"), target.get("channel"))
    result = activation_maximization(model, variables, SHAPE, **target, steps=7, learning_rate=0.3, l2=l2,
                                     jitter=0, blur_sigma=blur_sigma, blur_every=3, init_std=0.0)
    expected = _ascent(g, 7, 0.3, l2, blur_sigma, blur_every=3)
    np.testing.assert_allclose(result.image, expected, rtol=1e-4, atol=1e-5)
    assert result.start_score == pytest.approx(b, abs=1e-5)
    assert result.final_score == pytest.approx(float(np.sum(g * expected)) + b, rel=1e-4, abs=1e-5)
    assert result.history.shape == (7,) and result.history[-1] == result.final_score
    if l2 == 0 and not blur_sigma:
        rise = 0.3 * np.sqrt(np.mean(g**2)) * g.size  # ⟨g, η g / rms(g)⟩
        np.testing.assert_allclose(np.diff(result.history, prepend=b), rise, rtol=1e-4)


def test_jitter_takes_the_gradient_at_a_rolled_image_and_rolls_it_back(linear):
    """With S = ⟨g, x⟩ + b one step from zero is η·roll(g, −s)/rms(g) for the step's shift s ∈ [−J, J]²;
    across seeds more than one shift occurs, and none beyond J. The history scores the image itself."""
    model, variables = linear
    g, b = _linear_gradient(variables, class_index=0)
    step = 0.5 * g / np.sqrt(np.mean(g**2))
    candidates = {(dy, dx): np.roll(step, (-dy, -dx), axis=(0, 1)) for dy in range(-3, 4) for dx in range(-3, 4)}
    seen = set()
    for seed in range(12):
        result = activation_maximization(model, variables, SHAPE, class_index=0, steps=1, learning_rate=0.5, l2=0.0,
                                         jitter=2, blur_sigma=0.0, init_std=0.0, seed=seed)
        image = result.image
        assert result.final_score == pytest.approx(float(np.sum(g * image)) + b, rel=1e-4)
        matches = [s for s, c in candidates.items() if np.allclose(image, c, atol=1e-5)]
        assert len(matches) == 1 and max(map(abs, matches[0])) <= 2, matches
        seen.add(matches[0])
    assert len(seen) > 1


def _scores(model, variables, score, image, n=64):
    """The target's score on `image`, and on `n` Gaussian images of the same RMS: what an image of that size
    gets by chance."""
    noise = np.random.default_rng(123).standard_normal((n, *image.shape)) * np.sqrt(np.mean(image**2))
    scores = np.asarray(score(model.apply(variables, np.concatenate([image[None], noise]), train=False)))
    return scores[0], scores[1:]


@pytest.mark.parametrize("target", [dict(class_index=3), dict(layer="c3", channel=5)])
def test_lenet_target_rises_far_beyond_chance(lenet, target):
    """Criterion: the final score exceeds the mean plus 5 standard deviations of the score over 64 random
    Gaussian images with the same RMS as the image found (so the rise is the direction, not the size), and
    is above the start. With all regularisers on, the last quarter of the history outscores the first."""
    model, variables = lenet
    result = activation_maximization(model, variables, (28, 28, 1), **target, steps=40, learning_rate=0.1, l2=0.02,
                                     jitter=1, blur_sigma=0.5, blur_every=4)
    if "class_index" in target:
        def score(out):
            return out[0][:, 3]
    else:
        def score(out):  # c3 independently of the probe: the tap of the model's own output
            return out[1]["c3"][..., 5].mean(axis=(1, 2))
    found, chance = _scores(model, variables, score, result.image)
    assert result.final_score == pytest.approx(float(found), rel=1e-4, abs=1e-5)
    assert result.final_score >= chance.mean() + 5 * chance.std(), (result.final_score, chance.mean(), chance.std())
    assert result.final_score > result.start_score
    quarter = len(result.history) // 4
    assert result.history[-quarter:].mean() > result.history[:quarter].mean()


def test_lenet_plain_ascent_rises_at_almost_every_step(lenet):
    """Without jitter, blur or decay, small steps along the gradient raise the logit at ≥ 95% of the steps."""
    model, variables = lenet
    result = activation_maximization(model, variables, (28, 28, 1), class_index=1, steps=40, learning_rate=0.02,
                                     l2=0.0, jitter=0, blur_sigma=0.0)
    assert np.mean(np.diff(result.history, prepend=result.start_score) > 0) >= 0.95


def _high_frequency_fraction(image):
    """Share of the spectral energy (mean removed) at radial frequency above 0.25 cycles per pixel."""
    spectrum = np.abs(np.fft.fft2(image[..., 0] - image.mean())) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(image.shape[0]), np.fft.fftfreq(image.shape[1]), indexing="ij")
    return spectrum[np.hypot(fy, fx) > 0.25].sum() / spectrum.sum()


def test_blur_removes_high_frequencies_and_decay_shrinks_the_image(lenet):
    """Same seed, one regulariser changed at a time: blurring every step halves (at least) the share of
    high-frequency energy; a 10× stronger decay gives an image of less than half the norm, within the bound
    η(1 − l2)/l2 on its RMS."""
    model, variables = lenet
    common = dict(class_index=4, steps=40, learning_rate=0.1, jitter=0, seed=3)
    sharp = activation_maximization(model, variables, (28, 28, 1), l2=0.01, blur_sigma=0.0, **common)
    blurred = activation_maximization(model, variables, (28, 28, 1), l2=0.01, blur_sigma=0.5, blur_every=1, **common)
    assert _high_frequency_fraction(blurred.image) < 0.5 * _high_frequency_fraction(sharp.image)
    decayed = activation_maximization(model, variables, (28, 28, 1), l2=0.1, blur_sigma=0.0, **common)
    assert np.linalg.norm(decayed.image) < 0.5 * np.linalg.norm(sharp.image)
    assert np.sqrt(np.mean(decayed.image**2)) <= 0.1 * (1 - 0.1) / 0.1


def test_deterministic_given_the_seed(lenet):
    model, variables = lenet
    runs = [activation_maximization(model, variables, (28, 28, 1), layer="c3", channel=2, steps=40, seed=seed)
            for seed in (7, 7, 8)]
    np.testing.assert_array_equal(runs[0].image, runs[1].image)
    np.testing.assert_array_equal(runs[0].history, runs[1].history)
    assert not np.allclose(runs[0].image, runs[2].image)


@pytest.mark.parametrize("kwargs, message", [
    (dict(layer="c9", channel=0), "no tap or module 'c9'"),
    (dict(layer="c3", channel=16), "channel 16 is out of range: layer 'c3' has 16 channels"),
    (dict(layer="c3"), "needs channel"),
    (dict(class_index=10), "class_index 10 is out of range"),
    (dict(), "exactly one target"),
    (dict(class_index=1, layer="c3", channel=0), "exactly one target"),
    (dict(class_index=1, channel=0), "needs a layer"),
    (dict(class_index=1, blur_every=0), "blur_every >= 1"),
])
def test_bad_targets_are_named(lenet, kwargs, message):
    model, variables = lenet
    with pytest.raises(ValueError, match=message):
        activation_maximization(model, variables, (28, 28, 1), steps=2, **kwargs)


def test_plot_writes_a_png(lenet, tmp_path):
    model, variables = lenet
    results = [activation_maximization(model, variables, (28, 28, 1), layer="c3", channel=c, steps=40) for c in (0, 1)]
    path = plot_activation_max(results, str(tmp_path / "am.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
