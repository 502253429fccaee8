"""Image filters and noise against the notes' hand-worked numbers, scipy.signal, scipy.ndimage and numpy."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.ndimage as ndimage
import scipy.signal as signal
from numpy.lib.stride_tricks import sliding_window_view

from cnn import filters

RNG = np.random.default_rng(0)
MODES = ("zero", "constant", "reflect", "symmetric", "edge", "wrap")
VALUE = 0.7  # the fill of mode "constant"
# numpy.pad's mode names (ours) as scipy.ndimage's mode and cval.
NDIMAGE_MODE = {
    "zero": ("constant", 0.0),
    "constant": ("constant", VALUE),
    "reflect": ("mirror", 0.0),
    "symmetric": ("reflect", 0.0),
    "edge": ("nearest", 0.0),
    "wrap": ("wrap", 0.0),
}

NOTES_BINARY = np.array(
    [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], np.float32
)
NOTES_FILTER = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.float32)
NOTES_FEATURE_MAP = [[4, 3, 4], [2, 4, 3], [2, 3, 4]]

NOTES_SQUARE = np.zeros((10, 10), np.float32)
NOTES_SQUARE[2:7, 3:8] = 90
NOTES_SQUARE[5, 4] = 0
NOTES_SQUARE[8, 2] = 90
NOTES_MEAN_3X3 = [
    [0, 10, 20, 30, 30, 30, 20, 10],
    [0, 20, 40, 60, 60, 60, 40, 20],
    [0, 30, 60, 90, 90, 90, 60, 30],
    [0, 30, 50, 80, 80, 90, 60, 30],
    [0, 30, 50, 80, 80, 90, 60, 30],
    [0, 20, 30, 50, 50, 60, 40, 20],
    [10, 20, 30, 30, 30, 30, 20, 10],
    [10, 10, 10, 0, 0, 0, 0, 0],
]


def _ndimage_options(mode):
    scipy_mode, cval = NDIMAGE_MODE[mode]
    return {"mode": scipy_mode, "cval": cval}


def _numpy_pad(image, pads, mode):
    if mode in ("zero", "constant"):
        return np.pad(image, pads, mode="constant", constant_values=VALUE if mode == "constant" else 0.0)
    return np.pad(image, pads, mode=mode)


def _dilate(kernel, dilation):
    """The kernel with dilation − 1 zeros between its taps."""
    out = np.zeros([dilation * (k - 1) + 1 for k in kernel.shape], kernel.dtype)
    out[::dilation, ::dilation] = kernel
    return out


def _reference_pads(padding, shape, kernel_shape, stride, dilation):
    """(lo, hi) per axis: "SAME" by TensorFlow's rule (out = ceil(n/s), the odd pixel last), else as spelled."""
    if padding == "VALID":
        return [(0, 0), (0, 0)]
    if isinstance(padding, int):
        return [(padding, padding)] * 2
    if padding != "SAME":
        return list(padding)
    pads = []
    for n, k, s in zip(shape, kernel_shape, stride):
        total = max((-(-n // s) - 1) * s + dilation * (k - 1) + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def reference_filter(image, kernel, stride, padding, mode, dilation, flip):
    """scipy.signal.correlate2d (or convolve2d) "valid" on the numpy-padded image, subsampled by the stride."""
    strides = (stride, stride) if isinstance(stride, int) else stride
    padded = _numpy_pad(image, _reference_pads(padding, image.shape, kernel.shape, strides, dilation), mode)
    op = signal.convolve2d if flip else signal.correlate2d
    return op(padded, _dilate(kernel, dilation), mode="valid")[:: strides[0], :: strides[1]]


# --- the notes' worked examples and kernels --------------------------------------------------------


@pytest.mark.parametrize("op", [filters.correlate, filters.convolve])
def test_notes_binary_image_valid(op):
    # The filter is symmetric under a 180° rotation, so convolution and correlation agree here.
    out = op(NOTES_BINARY, NOTES_FILTER, padding="VALID")
    np.testing.assert_array_equal(out, NOTES_FEATURE_MAP)


def test_notes_binary_image_same_keeps_the_size_with_a_ring_of_zeros():
    out = filters.correlate(NOTES_BINARY, NOTES_FILTER)
    assert out.shape == (5, 5)
    np.testing.assert_array_equal(out[1:-1, 1:-1], NOTES_FEATURE_MAP)
    ring = np.pad(NOTES_BINARY, 1)
    np.testing.assert_array_equal(out, signal.correlate2d(ring, NOTES_FILTER, mode="valid"))


def test_notes_mean_filter_on_the_90_square():
    np.testing.assert_array_equal(sliding_window_view(NOTES_SQUARE, (3, 3)).mean(axis=(-2, -1)), NOTES_MEAN_3X3)
    out = filters.correlate(NOTES_SQUARE, filters.mean(3), padding="VALID")
    np.testing.assert_allclose(out, NOTES_MEAN_3X3, atol=1e-4)


@pytest.mark.parametrize(
    "kernel, expected",
    [
        (filters.identity(), [[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
        (filters.mean(3), np.ones((3, 3)) / 9),
        (filters.binomial(), np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16),
        (filters.sharpen(), [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        (filters.laplacian(4), [[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
        (filters.laplacian(8), [[1, 1, 1], [1, -8, 1], [1, 1, 1]]),
        (filters.sobel_x(), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
        (filters.sobel_y(), [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
        (filters.prewitt_x(), [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
        (filters.prewitt_y(), [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
        (filters.EDGE_KERNELS[0], [[1, 0, -1], [0, 0, 0], [-1, 0, 1]]),
        (filters.EDGE_KERNELS[1], [[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
        (filters.EDGE_KERNELS[2], [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
        (filters.X_DETECTORS[0], [[1, -1, -1], [-1, 1, -1], [-1, -1, 1]]),
        (filters.X_DETECTORS[1], [[1, -1, 1], [-1, 1, -1], [1, -1, 1]]),
        (filters.X_DETECTORS[2], [[-1, -1, 1], [-1, 1, -1], [1, -1, -1]]),
    ],
)
def test_kernels_are_the_notes(kernel, expected):
    assert kernel.dtype == np.float32
    np.testing.assert_allclose(kernel, expected, rtol=1e-7)


def test_shared_kernel_constants_are_read_only():
    with pytest.raises(ValueError):
        filters.EDGE_KERNELS[0][0, 0] = 5


def test_identity_and_mean_sizes():
    image = RNG.normal(size=(6, 7)).astype(np.float32)
    np.testing.assert_array_equal(filters.correlate(image, filters.identity(5)), image)
    np.testing.assert_allclose(filters.mean(4), np.full((4, 4), 1 / 16))
    with pytest.raises(ValueError, match="odd"):
        filters.identity(4)


# --- against scipy.signal: every padding mode, strides, dilations, odd and even kernels -----------

# (kernel shape, stride, dilation, padding); the 9×11 image leaves no unread pixels for these strides.
SIGNAL_CASES = [
    ((3, 3), 1, 1, "SAME"),
    ((2, 2), 1, 1, "SAME"),
    ((4, 3), 2, 1, "SAME"),
    ((3, 3), 3, 1, ((2, 1), (1, 1))),
    ((2, 3), 1, 2, "SAME"),
    ((3, 2), 2, 3, ((1, 2), (2, 1))),
    ((5, 5), (1, 2), 1, "VALID"),
    ((3, 4), 1, 1, 1),
]


@pytest.mark.parametrize("flip", [False, True], ids=["correlate", "convolve"])
@pytest.mark.parametrize("case", SIGNAL_CASES, ids=lambda c: f"k{c[0]}-s{c[1]}-d{c[2]}-{c[3]}")
@pytest.mark.parametrize("mode", MODES)
def test_against_scipy_signal(mode, case, flip):
    kernel_shape, stride, dilation, padding = case
    image = RNG.normal(size=(9, 11)).astype(np.float32)
    kernel = RNG.normal(size=kernel_shape).astype(np.float32)
    op = filters.convolve if flip else filters.correlate
    out = op(image, kernel, stride=stride, padding=padding, mode=mode, value=VALUE, dilation=dilation)
    expected = reference_filter(image, kernel, stride, padding, mode, dilation, flip)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


# --- against scipy.ndimage: odd kernels, the mode mapping -------------------------------------------


@pytest.mark.parametrize("kernel_shape", [(3, 3), (5, 3)])
@pytest.mark.parametrize("mode", MODES)
def test_against_scipy_ndimage(mode, kernel_shape):
    image = RNG.normal(size=(8, 9)).astype(np.float32)
    kernel = RNG.normal(size=kernel_shape).astype(np.float32)
    options = _ndimage_options(mode)
    np.testing.assert_allclose(
        filters.correlate(image, kernel, mode=mode, value=VALUE), ndimage.correlate(image, kernel, **options), atol=1e-5
    )
    np.testing.assert_allclose(
        filters.convolve(image, kernel, mode=mode, value=VALUE), ndimage.convolve(image, kernel, **options), atol=1e-5
    )


@pytest.mark.parametrize("kernel_shape", [(2, 2), (4, 2), (2, 3)])
def test_even_kernel_centring_under_same(kernel_shape):
    """correlate: tap (k − 1)//2 on the pixel, like signal.correlate2d "same"; ndimage centres tap k//2.
    convolve: like ndimage.convolve; signal.convolve2d "same" is one pixel behind on every even axis."""
    image = RNG.normal(size=(7, 8)).astype(np.float32)
    kernel = RNG.normal(size=kernel_shape).astype(np.float32)
    even = [1 - k % 2 for k in kernel_shape]
    correlated = np.asarray(filters.correlate(image, kernel))
    convolved = np.asarray(filters.convolve(image, kernel))
    np.testing.assert_allclose(correlated, signal.correlate2d(image, kernel, mode="same"), atol=1e-5)
    origin = [-e for e in even]
    np.testing.assert_allclose(correlated, ndimage.correlate(image, kernel, mode="constant", origin=origin), atol=1e-5)
    assert not np.allclose(correlated, ndimage.correlate(image, kernel, mode="constant"), atol=1e-3)
    np.testing.assert_allclose(convolved, ndimage.convolve(image, kernel, mode="constant"), atol=1e-5)
    behind = signal.convolve2d(image, kernel, mode="same")
    height, width = image.shape
    np.testing.assert_allclose(convolved[: height - even[0], : width - even[1]], behind[even[0] :, even[1] :], atol=1e-5)


@pytest.mark.parametrize("sigma", [0.5, 0.625, 1.0, 1.3])
def test_gaussian_kernel_is_scipy_impulse_response(sigma):
    radius = int(4 * sigma + 0.5)  # 0.625: 4σ = 2.5 rounds up to 3, not to Python's round(2.5) = 2
    delta = np.zeros((2 * radius + 1, 2 * radius + 1))
    delta[radius, radius] = 1
    kernel = filters.gaussian(sigma)
    assert kernel.shape == delta.shape
    np.testing.assert_allclose(kernel, ndimage.gaussian_filter(delta, sigma, mode="constant"), rtol=1e-5, atol=1e-8)


def test_gaussian_kernel_formula_for_a_given_size():
    kernel = filters.gaussian(1.5, size=5)
    np.testing.assert_allclose(kernel.sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(kernel[2, 3] / kernel[2, 2], np.exp(-1 / (2 * 1.5**2)), rtol=1e-6)
    np.testing.assert_allclose(kernel[0, 0] / kernel[2, 2], np.exp(-8 / (2 * 1.5**2)), rtol=1e-6)
    even = filters.gaussian(1.0, size=4)
    np.testing.assert_allclose(even, even[::-1, ::-1], rtol=1e-6)
    with pytest.raises(ValueError, match="sigma"):
        filters.gaussian(0.0)


@pytest.mark.parametrize("sigma", [0.625, 1.5])
@pytest.mark.parametrize("mode", MODES)
def test_gaussian_filter_against_scipy(mode, sigma):
    image = RNG.normal(size=(14, 15)).astype(np.float32)
    out = filters.gaussian_filter(image, sigma, mode=mode, value=VALUE)
    np.testing.assert_allclose(out, ndimage.gaussian_filter(image, sigma, **_ndimage_options(mode)), atol=1e-5)


@pytest.mark.parametrize("size", [3, 5])
@pytest.mark.parametrize("mode", MODES)
def test_median_filter_against_scipy(mode, size):
    image = RNG.normal(size=(9, 10)).astype(np.float32)
    out = filters.median_filter(image, size, mode=mode, value=VALUE)
    np.testing.assert_array_equal(out, ndimage.median_filter(image, size, **_ndimage_options(mode)))


def test_median_filter_valid_and_even_windows_against_numpy():
    image = RNG.normal(size=(7, 8)).astype(np.float32)
    for size in (2, 3, 4):
        expected = np.median(sliding_window_view(image, (size, size)), axis=(-2, -1))
        np.testing.assert_allclose(filters.median_filter(image, size, padding="VALID"), expected, rtol=1e-6)


# --- layouts ---------------------------------------------------------------------------------------

KERNEL_3X3 = RNG.normal(size=(3, 3)).astype(np.float32)
# Our filter and scipy.ndimage's on one (H, W) channel, with the same borders.
LAYOUT_FILTERS = {
    "correlate": (
        lambda image: filters.correlate(image, KERNEL_3X3),
        lambda channel: ndimage.correlate(channel, KERNEL_3X3, mode="constant"),
    ),
    "median": (filters.median_filter, lambda channel: ndimage.median_filter(channel, 3, mode="reflect")),
    "gaussian": (
        lambda image: filters.gaussian_filter(image, 1.0),
        lambda channel: ndimage.gaussian_filter(channel, 1.0, mode="reflect"),
    ),
    "gradient": (
        filters.gradient_magnitude,
        lambda channel: ndimage.generic_gradient_magnitude(channel, ndimage.sobel, mode="reflect"),
    ),
}


@pytest.mark.parametrize("name", LAYOUT_FILTERS)
@pytest.mark.parametrize("shape", [(8, 9), (8, 9, 3), (2, 8, 9, 3)], ids=["HW", "HWC", "NHWC"])
def test_layouts_are_per_channel_2d_filters(shape, name):
    ours, reference = LAYOUT_FILTERS[name]
    image = RNG.normal(size=shape).astype(np.float32)
    out = np.asarray(ours(image))
    assert out.shape == image.shape
    nhwc = image[None, ..., None] if image.ndim == 2 else image[None] if image.ndim == 3 else image
    expected = np.stack([np.stack([reference(b[..., c]) for c in range(b.shape[-1])], -1) for b in nhwc])
    np.testing.assert_allclose(out, expected.reshape(out.shape), rtol=1e-5, atol=1e-5)


def test_integer_images_become_float32():
    image = RNG.integers(0, 256, (6, 7, 2)).astype(np.uint8)
    out = filters.correlate(image, filters.mean(3))
    assert out.dtype == np.float32
    box = np.ones((3, 3)) / 9
    channels = [ndimage.correlate(image[..., c].astype(np.float64), box, mode="constant") for c in range(2)]
    np.testing.assert_allclose(out, np.stack(channels, -1), rtol=1e-5)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: filters.correlate(np.zeros((4, 4)), np.ones((3, 3, 1))), "2D"),
        (lambda: filters.correlate(np.zeros(4), np.ones((3, 3))), "image must be"),
        (lambda: filters.laplacian(6), "neighbours"),
        (lambda: filters.median_filter(np.zeros((4, 4)), 3, mode="mirror"), "padding mode"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- edges -----------------------------------------------------------------------------------------

RIGHT_RAMP = np.tile(np.arange(8, dtype=np.float32), (6, 1))  # f[i, j] = j


@pytest.mark.parametrize(
    "kernel_x, kernel_y, scipy_filter, weight",
    [
        (filters.sobel_x, filters.sobel_y, ndimage.sobel, 8),
        (filters.prewitt_x, filters.prewitt_y, ndimage.prewitt, 6),
    ],
    ids=["sobel", "prewitt"],
)
def test_derivative_sign_convention(kernel_x, kernel_y, scipy_filter, weight):
    # Intensity increasing to the right (x) or downwards (y) gives a positive response: weight × slope.
    for ramp, along, across in ((RIGHT_RAMP, kernel_x, kernel_y), (RIGHT_RAMP.T.copy(), kernel_y, kernel_x)):
        np.testing.assert_allclose(filters.correlate(ramp, along(), padding="VALID"), weight)
        np.testing.assert_allclose(filters.correlate(ramp, across(), padding="VALID"), 0)
    image = RNG.normal(size=(7, 9)).astype(np.float32)
    for kernel, axis in ((kernel_x, 1), (kernel_y, 0)):
        out = filters.correlate(image, kernel(), mode="symmetric")
        np.testing.assert_allclose(out, scipy_filter(image, axis=axis, mode="reflect"), atol=1e-5)


@pytest.mark.parametrize("mode", ["zero", "edge"])
def test_gradient_magnitude_against_scipy(mode):
    image = RNG.normal(size=(7, 9)).astype(np.float32)
    expected = ndimage.generic_gradient_magnitude(image, ndimage.sobel, **_ndimage_options(mode))
    np.testing.assert_allclose(filters.gradient_magnitude(image, mode=mode), expected, rtol=1e-5, atol=1e-5)


def test_gradient_magnitude_peaks_on_a_vertical_step_edge():
    step = np.zeros((8, 12), np.float32)
    step[:, 6:] = 1.0
    magnitude = np.asarray(filters.gradient_magnitude(step))
    np.testing.assert_allclose(magnitude[:, 5:7], 4.0)  # the Sobel weights 1 + 2 + 1 across the step
    np.testing.assert_array_equal(np.delete(magnitude, [5, 6], axis=1), 0.0)


@pytest.mark.parametrize("neighbours", [4, 8])
def test_laplacian_of_a_linear_ramp_is_zero_inside(neighbours):
    rows, cols = np.mgrid[0:7, 0:9].astype(np.float32)
    ramp = 2 * rows - 3 * cols + 1
    np.testing.assert_allclose(filters.correlate(ramp, filters.laplacian(neighbours), padding="VALID"), 0.0, atol=1e-4)


def test_laplacian_4_is_scipy_laplace():
    image = RNG.normal(size=(7, 9)).astype(np.float32)
    out = filters.correlate(image, filters.laplacian(4), mode="symmetric")
    np.testing.assert_allclose(out, ndimage.laplace(image, mode="reflect"), atol=1e-5)


# --- noise -----------------------------------------------------------------------------------------

GREY = np.full((200, 200), 0.5, np.float32)


def test_median_removes_salt_and_pepper_the_mean_filter_does_not():
    noisy = np.asarray(filters.salt_and_pepper(jax.random.key(3), GREY[:40, :40], 0.05))
    assert (noisy != 0.5).sum() > 20
    np.testing.assert_array_equal(filters.median_filter(noisy, 3), 0.5)
    assert np.abs(np.asarray(filters.correlate(noisy, filters.mean(3), mode="symmetric")) - 0.5).max() > 0.05


@pytest.mark.parametrize(
    "noise",
    [
        lambda key, image: filters.salt_and_pepper(key, image, 0.1),
        lambda key, image: filters.impulse(key, image, 0.1),
        lambda key, image: filters.gaussian_noise(key, image, 0.1),
    ],
    ids=["salt_and_pepper", "impulse", "gaussian"],
)
def test_noise_is_determined_by_the_key(noise):
    image = GREY[:32, :32]
    first = np.asarray(noise(jax.random.key(0), image))
    np.testing.assert_array_equal(first, noise(jax.random.key(0), image))
    assert not np.array_equal(first, noise(jax.random.key(1), image))
    assert first.shape == image.shape and first.dtype == np.float32


@pytest.mark.parametrize("amount, salt_vs_pepper", [(0.2, 0.5), (0.1, 0.3), (0.05, 1.0)])
def test_salt_and_pepper_fractions(amount, salt_vs_pepper):
    noisy = np.asarray(filters.salt_and_pepper(jax.random.key(7), GREY, amount, salt_vs_pepper=salt_vs_pepper))
    salt, pepper = (noisy == 1.0).sum(), (noisy == 0.0).sum()
    assert salt + pepper + (noisy == 0.5).sum() == GREY.size
    # 40 000 pixels: the standard errors are below 0.002 and 0.02; the tolerances are five of them.
    assert abs((salt + pepper) / GREY.size - amount) < 0.01
    assert abs(salt / (salt + pepper) - salt_vs_pepper) < 0.05


def test_salt_and_pepper_replaces_whole_pixels_with_the_given_levels():
    image = np.full((60, 60, 3), 100, np.uint8)
    noisy = np.asarray(filters.salt_and_pepper(jax.random.key(2), image, 0.3, low=10.0, high=250.0))
    assert noisy.dtype == np.float32
    assert set(np.unique(noisy)) == {10.0, 100.0, 250.0}
    assert (noisy == noisy[..., :1]).all()  # every channel of a pixel alike
    batch = np.asarray(filters.salt_and_pepper(jax.random.key(2), np.stack([image, image]), 0.3))
    assert not np.array_equal(batch[0], batch[1])  # each image in a batch gets its own noise


def test_impulse_noise_is_white_only():
    noisy = np.asarray(filters.impulse(jax.random.key(5), GREY, 0.15, high=2.0))
    assert set(np.unique(noisy)) == {0.5, 2.0}
    assert abs((noisy == 2.0).mean() - 0.15) < 0.01


def test_gaussian_noise_has_the_requested_mean_and_std():
    noisy = np.asarray(filters.gaussian_noise(jax.random.key(11), GREY, 0.3, mean=0.1))
    residual = noisy - GREY
    # 40 000 draws: standard errors 0.0015 (mean) and about 0.001 (std).
    assert abs(residual.mean() - 0.1) < 0.01
    assert abs(residual.std() - 0.3) < 0.01
    np.testing.assert_array_equal(filters.gaussian_noise(jax.random.key(11), GREY, 0.0), GREY)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: filters.salt_and_pepper(jax.random.key(0), GREY, 1.5), "amount"),
        (lambda: filters.salt_and_pepper(jax.random.key(0), GREY, -0.1), "amount"),
        (lambda: filters.salt_and_pepper(jax.random.key(0), GREY, 0.1, salt_vs_pepper=2.0), "salt_vs_pepper"),
        (lambda: filters.impulse(jax.random.key(0), GREY, 1.01), "amount"),
        (lambda: filters.gaussian_noise(jax.random.key(0), GREY, -0.1), "sigma"),
    ],
)
def test_invalid_noise_parameters_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
