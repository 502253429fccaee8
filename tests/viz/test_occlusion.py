"""Occlusion sensitivity on a model whose class is decided by one known region, against a direct loop."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn.viz.occlusion import occlusion

REGION = (slice(10, 16), slice(4, 9))  # rows 10-15, cols 4-8 of a 24×20 image


class RegionDetector(nn.Module):
    """Class 1's logit is 4 × the mean of REGION; class 0's is 1: bright REGION, class 1."""

    @nn.compact
    def __call__(self, x, train=False):
        score = 4 * x[:, REGION[0], REGION[1], 0].mean(axis=(1, 2))
        return jnp.stack([jnp.ones_like(score), score], axis=1), {}


def _image():
    image = np.random.default_rng(0).uniform(0, 0.2, (24, 20, 1)).astype(np.float32)
    image[REGION] = 1.0
    return jnp.asarray(image)


def test_the_heatmap_peaks_inside_the_region_that_decides_the_class():
    result = occlusion(RegionDetector(), {}, _image(), 1, patch=4, stride=2)
    row, col = np.unravel_index(np.argmax(result.pixel_map), result.pixel_map.shape)
    assert REGION[0].start <= row < REGION[0].stop and REGION[1].start <= col < REGION[1].stop
    outside = np.ones(result.pixel_map.shape, bool)
    outside[8:18, 2:12] = False  # only patches touching the region cover these pixels
    np.testing.assert_allclose(result.pixel_map[outside], 0, atol=1e-6)


def test_drops_equal_a_direct_loop_over_patch_positions():
    image = _image()
    result = occlusion(RegionDetector(), {}, image, 1, patch=5, stride=3, fill=0.5, batch_size=7)
    rows, cols = [0, 3, 6, 9, 12, 15, 18, 19], [0, 3, 6, 9, 12, 15]  # the last position touches the border
    probability = lambda x: float(jax.nn.softmax(RegionDetector().apply({}, x[None])[0])[0, 1])  # noqa: E731
    assert result.drops.shape == (len(rows), len(cols))
    assert result.probability == pytest.approx(probability(image))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            hidden = np.array(image)
            hidden[r:r + 5, c:c + 5] = 0.5
            assert result.drops[i, j] == pytest.approx(probability(image) - probability(jnp.asarray(hidden)), abs=1e-6)


def test_a_patch_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match="patch"):
        occlusion(RegionDetector(), {}, _image(), 1, patch=30, stride=2)
