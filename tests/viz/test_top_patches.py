"""Top patches against hand-computed receptive fields and a brute-force numpy search.

The hand-built model is a 3×3 convolution with padding 1 followed by 2×2 max pooling with stride 2: a
convolution unit (i, j) sees input rows i − 1 … i + 1, a pooling unit (i, j) the convolution rows 2i, 2i + 1,
so input rows 2i − 1 … 2i + 2 (a 4 × 4 field), and the same for columns.
"""

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal

from cnn.models import create
from cnn.viz.top_patches import crop, plot_top_patches, top_patches
from tests.viz.weights import random_variables

PLUS = np.array([[-1, 1, -1], [1, 1, 1], [-1, 1, -1]], np.float32)  # +1 on a plus, −1 around it


class Detector(nn.Module):
    """Module "detector" (3×3, padding 1), its ReLU as tap "conv", 2×2 max pooling as tap "pool"."""

    @nn.compact
    def __call__(self, x, train=False):
        conv = nn.relu(nn.Conv(2, (3, 3), padding=1, name="detector")(x))
        pool = nn.max_pool(conv, (2, 2), strides=(2, 2))
        logits = pool.mean(axis=(1, 2))
        return logits, {"conv": conv, "pool": pool, "mean": logits}


def _variables(kernel):
    """Detector's weights with `kernel` (3, 3, 1, 2) and zero bias."""
    return {"params": {"detector": {"kernel": jnp.asarray(kernel), "bias": jnp.zeros(2)}}}


def _plus(images, index, row, col, brightness):
    images[index, row - 1:row + 2, col] = brightness
    images[index, row, col - 1:col + 2] = brightness


@pytest.fixture(scope="module")
def planted():
    """12 × 12 images of dim noise; a bright plus centred at (5, 8) in image 6 and a dimmer one centred at
    (1, 10) in image 2, near the corner; channel 0 detects a bright plus, channel 1 a dark one."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 0.2, (10, 12, 12, 1)).astype(np.float32)
    _plus(images, 6, 5, 8, 1.0)
    _plus(images, 2, 1, 10, 0.9)
    kernel = np.stack([PLUS, -PLUS], axis=-1)[:, :, None, :]
    return images, _variables(kernel)


def test_the_top_patches_are_the_planted_patterns_in_the_hand_computed_fields(planted):
    images, variables = planted
    first, second = top_patches(Detector(), variables, images, "pool", 0, k=2, batch_size=4)
    assert (first.image_index, first.unit) == (6, (5 // 2, 8 // 2))
    assert first.bounds == ((3, 6), (7, 10)) and first.patch.shape == (4, 4, 1) and not first.clipped
    np.testing.assert_array_equal(first.patch, images[6, 3:7, 7:11])
    assert first.activation == pytest.approx(float(np.sum(PLUS * images[6, 4:7, 7:10, 0])), rel=1e-5)
    # The dim plus sits at the top-right corner: its field reaches row −1 and column 12, filled with the minimum.
    assert (second.image_index, second.unit) == (2, (0, 5)) and second.bounds == ((-1, 2), (9, 12))
    assert second.clipped and second.patch.shape == (4, 4, 1)
    np.testing.assert_array_equal(second.patch[1:, :3], images[2, 0:3, 9:12])
    assert np.all(second.patch[0] == images[2].min()) and np.all(second.patch[:, 3] == images[2].min())


def test_a_unit_of_the_convolution_sees_exactly_the_plus(planted):
    """The convolution's tap: a 3 × 3 field centred on the plus, whose response is 5 × brightness + the
    noise under the four −1 corners (which the kernel subtracts)."""
    images, variables = planted
    (best,) = top_patches(Detector(), variables, images, "conv", 0, k=1)
    assert (best.image_index, best.unit, best.bounds) == (6, (5, 8), ((4, 6), (7, 9)))
    np.testing.assert_array_equal(best.patch, images[6, 4:7, 7:10])
    assert best.activation == pytest.approx(float(np.sum(PLUS * images[6, 4:7, 7:10, 0])), rel=1e-5)


def _brute_force(images, kernel):
    """Every unit of the detector's pooled map, by scipy correlation, a ReLU and numpy reshapes."""
    n, h, w, _ = images.shape
    conv = np.stack([[signal.correlate2d(image[..., 0], kernel[:, :, 0, c], mode="same") for c in range(2)]
                     for image in images])  # (N, 2, H, W)
    return np.maximum(conv, 0).reshape(n, 2, h // 2, 2, w // 2, 2).max(axis=(3, 5))


@pytest.mark.parametrize("channel", [0, 1])
def test_top_k_equals_a_brute_force_search(channel):
    """Random images and kernel, 13 images in batches of 4 (a short last batch): the k = 10 largest units by
    sorting all of them in numpy, and each patch cut from the image padded by one pixel of its minimum."""
    rng = np.random.default_rng(channel)
    images = rng.normal(size=(13, 12, 12, 1)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 1, 2)).astype(np.float32)
    found = top_patches(Detector(), _variables(kernel), images, "pool", channel, k=10, batch_size=4)
    maps = _brute_force(images, kernel)[:, channel]
    order = np.argsort(-maps.ravel(), kind="stable")[:10]
    expected = [np.unravel_index(i, maps.shape) for i in order]
    assert [(p.image_index, *p.unit) for p in found] == [tuple(int(v) for v in e) for e in expected]
    np.testing.assert_allclose([p.activation for p in found], maps.ravel()[order], rtol=1e-5, atol=1e-6)
    for p in found:
        i, (r, c) = p.image_index, p.unit
        padded = np.pad(images[i], ((1, 1), (1, 1), (0, 0)), constant_values=images[i].min())
        np.testing.assert_array_equal(p.patch, padded[2 * r:2 * r + 4, 2 * c:2 * c + 4])
        assert p.clipped == (r == 0 or c == 0 or r == 5 or c == 5)


def test_a_module_path_names_the_convolution_before_its_relu():
    """"detector" is the Conv module, before the ReLU of tap "conv": with positive images and a negative kernel
    every raw response is negative (the tap is all zeros), and the top units are the least negative ones."""
    rng = np.random.default_rng(5)
    images = rng.uniform(0.1, 1.0, size=(3, 12, 12, 1)).astype(np.float32)
    kernel = -np.abs(rng.normal(size=(3, 3, 1, 2))).astype(np.float32)
    raw = np.stack([signal.correlate2d(image[..., 0], kernel[:, :, 0, 1], mode="same") for image in images])
    found = top_patches(Detector(), _variables(kernel), images, "detector", 1, k=3)
    order = np.argsort(-raw.ravel(), kind="stable")[:3]
    assert [(p.image_index, *p.unit) for p in found] == [tuple(int(v) for v in np.unravel_index(i, raw.shape))
                                                          for i in order]
    np.testing.assert_allclose([p.activation for p in found], raw.ravel()[order], rtol=1e-5)
    assert max(p.activation for p in found) < 0
    assert all(p.bounds == ((p.unit[0] - 1, p.unit[0] + 1), (p.unit[1] - 1, p.unit[1] + 1)) for p in found)


def test_lenet_c3_patches_are_its_14_pixel_field():
    """LeNet-5's C3: C1 (5 × 5, padding 2), 2 × 2 pooling, C3 (5 × 5) give a 14-pixel field with stride 2 and
    padding 2, so unit (i, j) sees rows 2i − 2 … 2i + 11; activations from the model's own tap."""
    model = create("lenet5", num_classes=10)
    variables = random_variables(model, (28, 28, 1))
    images = np.random.default_rng(2).normal(size=(4, 28, 28, 1)).astype(np.float32)
    found = top_patches(model, variables, images, "c3", 4, k=3)
    c3 = np.asarray(model.apply(variables, images, train=False)[1]["c3"][..., 4])
    order = np.argsort(-c3.ravel(), kind="stable")[:3]
    np.testing.assert_allclose([p.activation for p in found], c3.ravel()[order], rtol=1e-5)
    for p in found:
        r, c = p.unit
        assert p.bounds == ((2 * r - 2, 2 * r + 11), (2 * c - 2, 2 * c + 11))
        padded = np.pad(images[p.image_index], ((2, 2), (2, 2), (0, 0)), constant_values=images[p.image_index].min())
        np.testing.assert_array_equal(p.patch, padded[2 * r:2 * r + 14, 2 * c:2 * c + 14])


def test_crop_fills_past_the_image_with_its_minimum():
    image = np.arange(12, dtype=np.float32).reshape(3, 4, 1) + 5
    patch, clipped = crop(image, ((-1, 1), (2, 4.5)))  # fractional bounds widen to whole pixels
    assert clipped and patch.shape == (3, 4, 1)
    expected = np.full((3, 4), 5.0)
    expected[1:, :2] = image[:2, 2:, 0]
    np.testing.assert_array_equal(patch[..., 0], expected)
    inside, clipped = crop(image, ((0, 2), (0, 3)))
    assert not clipped and np.array_equal(inside, image)


@pytest.mark.parametrize("layer, channel, message", [
    ("nope", 0, "no module or tap 'nope'"),
    ("pool", 2, "channel 2 is out of range: layer 'pool' has 2 channels"),
    ("mean", 0, "layer 'mean' has no 2-D feature map"),
])
def test_bad_layers_and_channels_are_named(planted, layer, channel, message):
    images, variables = planted
    with pytest.raises(ValueError, match=message):
        top_patches(Detector(), variables, images, layer, channel)


def test_plot_writes_a_png(planted, tmp_path):
    images, variables = planted
    path = plot_top_patches(top_patches(Detector(), variables, images, "pool", 0, k=4), str(tmp_path / "top.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
