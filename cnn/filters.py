"""Classic image filters: smoothing, sharpening, edge and feature detection, the median filter and noise.

A linear filter slides a kernel h over the image f (the notes, lectures 1, 3 and 6). The notes'
worked examples, like CNN layers, compute the cross-correlation; true convolution flips the kernel:

    correlate:  g[i, j] = Σ_{u, v} h[u, v] · f[s·i + d·u − p_top, s·j + d·v − p_left]
    convolve:   g[i, j] = Σ_{u, v} h[u, v] · f[i − u, j − v]   (correlate with h rotated by 180°)

Images are (H, W), (H, W, C) or batches (N, H, W, C). A 2D kernel is applied to every channel on
its own (depthwise) and the result keeps the input's layout; integer images become float32.
Padding spellings and modes are those of `cnn.layers.padding`.

Kernels (float32 numpy arrays; u indexes rows, downwards, and v columns, rightwards):

    identity       δ[u, v]: 1 at the centre
    mean           1/k² everywhere (box filter)
    gaussian       G_σ[u, v] = exp(−(u² + v²)/(2σ²)) / Σ exp(·), size 2·⌊4σ + ½⌋ + 1
    binomial       [1 2 1]ᵀ[1 2 1] / 16, the notes' discrete Gaussian
    sobel_x        [1 2 1]ᵀ[−1 0 1], ∂f/∂x: positive where intensity increases to the right (columns)
    sobel_y        sobel_xᵀ, ∂f/∂y: positive where intensity increases downwards (rows)
    prewitt_x, _y  the same with [1 1 1]ᵀ smoothing
    laplacian      ∇²f ≈ Σ_neighbours f − n·f[i, j] over the n = 4 (edge) or 8 (edge and corner) neighbours
    sharpen        identity − laplacian(4) = [[0, −1, 0], [−1, 5, −1], [0, −1, 0]]

Noise (the notes' three kinds), seeded by a jax PRNG key: salt and pepper (random pixels black or
white), impulse (random pixels white), Gaussian (f + μ + σz, z ~ N(0, 1)).

Conventions that differ from scipy:

- Padding modes are named as numpy.pad: reflect is scipy.ndimage's "mirror", symmetric its
  "reflect", edge its "nearest"; zero and constant are "constant" with cval 0 and v; wrap is "wrap".
- Even kernels under "SAME" (stride 1): `correlate` puts tap (k − 1)//2 on the output pixel, as
  scipy.signal.correlate2d(mode="same") does; scipy.ndimage.correlate and scipy.signal.correlate
  (mode="same") put tap k//2 there, one pixel further (ours = scipy.ndimage.correlate with origin −1
  on the even axes). `convolve` flips first, so it centres h on tap k//2 exactly like
  scipy.ndimage.convolve; scipy.signal.convolve2d(mode="same") is one pixel behind it.
- `median_filter` with an even window averages the two middle values (numpy.median);
  scipy.ndimage.median_filter takes the upper one.
- The named filters default to mode "symmetric", scipy.ndimage's default "reflect", so that they
  agree with scipy.ndimage by default; `correlate` and `convolve` default to the notes' zero padding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from cnn.layers import conv
from cnn.layers.padding import Padding, pad, resolve_padding, stacked_windows, window_sizes

__all__ = [
    "correlate",
    "convolve",
    "identity",
    "mean",
    "gaussian",
    "binomial",
    "sobel_x",
    "sobel_y",
    "prewitt_x",
    "prewitt_y",
    "laplacian",
    "sharpen",
    "EDGE_KERNELS",
    "X_DETECTORS",
    "gradient_magnitude",
    "gaussian_filter",
    "median_filter",
    "salt_and_pepper",
    "impulse",
    "gaussian_noise",
]

Restore = Callable[[jax.Array], jax.Array]


def _as_batch(image: ArrayLike) -> tuple[jax.Array, Restore]:
    """The image as a floating (N, H, W, C) batch, and the function giving a result back the image's layout."""
    x = jnp.asarray(image)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.float32)
    if x.ndim == 2:
        return x[None, ..., None], lambda y: y[0, ..., 0]
    if x.ndim == 3:
        return x[None], lambda y: y[0]
    if x.ndim == 4:
        return x, lambda y: y
    raise ValueError(f"image must be (H, W), (H, W, C) or (N, H, W, C), got shape {x.shape}")


def _depthwise(
    op: Callable[..., jax.Array],
    image: ArrayLike,
    kernel: ArrayLike,
    stride: int | Sequence[int],
    padding: Padding,
    mode: str,
    value: float,
    dilation: int | Sequence[int],
) -> jax.Array:
    """Apply the 2D kernel with `op` (conv.correlate or conv.convolve) to every channel separately."""
    x, restore = _as_batch(image)
    kernel = jnp.asarray(kernel, x.dtype)
    if kernel.ndim != 2:
        raise ValueError(f"filter kernels are 2D (k_h, k_w) and apply to every channel, got shape {kernel.shape}")
    channels = x.shape[-1]
    # groups = C with one input and one output channel per group: each channel meets its own copy of h.
    tiled = jnp.broadcast_to(kernel[:, :, None, None], (*kernel.shape, 1, channels))
    y = op(x, tiled, stride=stride, padding=padding, mode=mode, value=value, dilation=dilation, groups=channels)
    return restore(y)


def correlate(
    image: ArrayLike,
    kernel: ArrayLike,
    *,
    stride: int | Sequence[int] = 1,
    padding: Padding = "SAME",
    mode: str = "zero",
    value: float = 0.0,
    dilation: int | Sequence[int] = 1,
) -> jax.Array:
    """Cross-correlation g[i, j] = Σ_{u, v} h[u, v] · f[s·i + d·u − p_top, s·j + d·v − p_left], per channel.

    The kernel slides unflipped, as in the notes' worked example and in CNN layers. The default
    "SAME" padding with zeros keeps the image size (one ring of zeros for a 3×3 kernel).
    """
    return _depthwise(conv.correlate, image, kernel, stride, padding, mode, value, dilation)


def convolve(
    image: ArrayLike,
    kernel: ArrayLike,
    *,
    stride: int | Sequence[int] = 1,
    padding: Padding = "SAME",
    mode: str = "zero",
    value: float = 0.0,
    dilation: int | Sequence[int] = 1,
) -> jax.Array:
    """True convolution g[i, j] = Σ_{u, v} h[u, v] · f[i − u, j − v] per channel: `correlate` with h rotated 180°.

    Agrees with `correlate` for kernels symmetric under that rotation (mean, Gaussian, Laplacian).
    """
    return _depthwise(conv.convolve, image, kernel, stride, padding, mode, value, dilation)


def _check_odd(size: int, name: str) -> None:
    if size < 1 or size % 2 == 0:
        raise ValueError(f"{name} needs an odd size >= 1 to have a centre pixel, got {size}")


def _frozen(rows: ArrayLike) -> np.ndarray:
    """A read-only float32 kernel, for the module-level constants that every caller shares."""
    kernel = np.array(rows, np.float32)
    kernel.setflags(write=False)
    return kernel


def identity(size: int = 3) -> np.ndarray:
    """δ[u, v]: 1 at the centre of a size × size kernel, 0 elsewhere, so that correlate(f, δ) = f."""
    _check_odd(size, "identity")
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, size // 2] = 1.0
    return kernel


def mean(size: int = 3) -> np.ndarray:
    """Box (mean) filter h[u, v] = 1/k² on a k × k window: the average of the window."""
    if size < 1:
        raise ValueError(f"mean filter size must be >= 1, got {size}")
    return np.full((size, size), 1.0 / size**2, np.float32)


def gaussian(sigma: float, size: int | None = None) -> np.ndarray:
    """G_σ[u, v] = exp(−(u² + v²)/(2σ²)) / Σ_{u, v} exp(−(u² + v²)/(2σ²)), u, v offsets from the centre.

    The default size 2·⌊4σ + ½⌋ + 1 is scipy.ndimage's truncate = 4 radius (rounded half up), so
    that `gaussian_filter` matches scipy.ndimage.gaussian_filter. An even size centres the kernel
    between pixels. (The notes print the density with exponent −(u² + v²)/σ²; the 2 is missing.)
    """
    if sigma <= 0:
        raise ValueError(f"Gaussian kernel sigma must be > 0, got {sigma}")
    if size is None:
        size = 2 * int(4 * sigma + 0.5) + 1
    if size < 1:
        raise ValueError(f"Gaussian kernel size must be >= 1, got {size}")
    offsets = np.arange(size) - (size - 1) / 2
    profile = np.exp(-(offsets**2) / (2 * sigma**2))
    # exp(−(u² + v²)/2σ²) = exp(−u²/2σ²)·exp(−v²/2σ²): the kernel is the outer product of two profiles.
    kernel = np.outer(profile, profile)
    return (kernel / kernel.sum()).astype(np.float32)


def binomial() -> np.ndarray:
    """The notes' discrete Gaussian [[1, 2, 1], [2, 4, 2], [1, 2, 1]] / 16 = [1 2 1]ᵀ[1 2 1] / 16."""
    return (np.outer([1, 2, 1], [1, 2, 1]) / 16).astype(np.float32)


def _derivative_x(smoothing: Sequence[int]) -> np.ndarray:
    """Central difference f[j + 1] − f[j − 1] along the row, smoothed by `smoothing` down the column."""
    return np.outer(smoothing, [-1, 0, 1]).astype(np.float32)


def sobel_x() -> np.ndarray:
    """[[−1, 0, 1], [−2, 0, 2], [−1, 0, 1]]: ∂f/∂x, positive where intensity increases to the right.

    Under `correlate` this is scipy.ndimage.sobel along axis 1.
    """
    return _derivative_x((1, 2, 1))


def sobel_y() -> np.ndarray:
    """[[−1, −2, −1], [0, 0, 0], [1, 2, 1]]: ∂f/∂y, positive where intensity increases downwards.

    Under `correlate` this is scipy.ndimage.sobel along axis 0.
    """
    return sobel_x().T


def prewitt_x() -> np.ndarray:
    """[[−1, 0, 1], [−1, 0, 1], [−1, 0, 1]]: ∂f/∂x, positive where intensity increases to the right.

    Under `correlate` this is scipy.ndimage.prewitt along axis 1.
    """
    return _derivative_x((1, 1, 1))


def prewitt_y() -> np.ndarray:
    """[[−1, −1, −1], [0, 0, 0], [1, 1, 1]]: ∂f/∂y, positive where intensity increases downwards.

    Under `correlate` this is scipy.ndimage.prewitt along axis 0.
    """
    return prewitt_x().T


def laplacian(neighbours: int = 4) -> np.ndarray:
    """∇²f ≈ Σ_neighbours f − n·f[i, j]: [[0, 1, 0], [1, −4, 1], [0, 1, 0]] (n = 4) or 1s around −8 (n = 8).

    Zero on linear ramps; the 4-neighbour kernel is scipy.ndimage.laplace's.
    """
    if neighbours not in (4, 8):
        raise ValueError(f"laplacian neighbours must be 4 (edges) or 8 (edges and corners), got {neighbours}")
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.float32)
    kernel = np.ones((3, 3), np.float32) if neighbours == 8 else cross
    kernel[1, 1] = -neighbours
    return kernel


def sharpen() -> np.ndarray:
    """[[0, −1, 0], [−1, 5, −1], [0, −1, 0]] = δ − ∇²: the image minus its Laplacian, steepening edges."""
    return identity() - laplacian(4)


# The notes' (lecture 3) edge-detection kernels: a diagonal one, the 4-neighbour Laplacian and the
# negated 8-neighbour Laplacian ("strong" edges).
EDGE_KERNELS: tuple[np.ndarray, ...] = (
    _frozen([[1, 0, -1], [0, 0, 0], [-1, 0, 1]]),
    _frozen(laplacian(4)),
    _frozen(-laplacian(8)),
)

# The notes' (lecture 1) filters for the features of an "X": its "\" diagonal, its crossing, its "/" diagonal.
X_DETECTORS: tuple[np.ndarray, ...] = (
    _frozen([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]]),
    _frozen([[1, -1, 1], [-1, 1, -1], [1, -1, 1]]),
    _frozen([[-1, -1, 1], [-1, 1, -1], [1, -1, -1]]),
)


def gradient_magnitude(image: ArrayLike, *, mode: str = "symmetric", value: float = 0.0) -> jax.Array:
    """|∇f| = sqrt(G_x² + G_y²) with G_x, G_y the Sobel responses ("SAME", per channel)."""
    gx = correlate(image, sobel_x(), mode=mode, value=value)
    gy = correlate(image, sobel_y(), mode=mode, value=value)
    return jnp.hypot(gx, gy)


def gaussian_filter(image: ArrayLike, sigma: float, *, mode: str = "symmetric", value: float = 0.0) -> jax.Array:
    """Gaussian blur G_σ ⋆ f: `correlate` with `gaussian(sigma)` ("SAME", per channel)."""
    return correlate(image, gaussian(sigma), mode=mode, value=value)


def median_filter(
    image: ArrayLike, size: int = 3, *, padding: Padding = "SAME", mode: str = "symmetric", value: float = 0.0
) -> jax.Array:
    """g[i, j] = median{f[i + u − p_top, j + v − p_left] : 0 <= u, v < k}, per channel.

    Non-linear, so no kernel reproduces it; it removes isolated outliers (salt and pepper) that a
    mean filter only spreads out. The window sits where `correlate` puts a k × k kernel.
    """
    x, restore = _as_batch(image)
    window = (size, size)
    pads = resolve_padding(padding, x.shape[1:3], window, (1, 1), (1, 1))
    height, width = window_sizes(x.shape[1:3], window, (1, 1), pads, (1, 1))
    windows = stacked_windows(pad(x, pads, mode, value), window, (1, 1), (height, width))
    return restore(jnp.median(windows, axis=(-2, -1)))


def _check_fraction(name: str, fraction: float) -> None:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {fraction}")


def salt_and_pepper(
    key: jax.Array,
    image: ArrayLike,
    amount: float,
    *,
    salt_vs_pepper: float = 0.5,
    low: float = 0.0,
    high: float = 1.0,
) -> jax.Array:
    """Salt-and-pepper noise: each pixel, all its channels together, becomes `high` (white) with
    probability amount·r, `low` (black) with probability amount·(1 − r), r = salt_vs_pepper, and is
    kept otherwise. Pass low, high = 0, 255 for 8-bit images.
    """
    _check_fraction("amount", amount)
    _check_fraction("salt_vs_pepper", salt_vs_pepper)
    x, restore = _as_batch(image)
    # One uniform draw per pixel: [0, amount·r) is salt, [amount·r, amount) pepper, the rest untouched.
    draw = jax.random.uniform(key, (*x.shape[:-1], 1))
    noisy = jnp.where(draw < amount * salt_vs_pepper, high, jnp.where(draw < amount, low, x))
    return restore(noisy.astype(x.dtype))


def impulse(key: jax.Array, image: ArrayLike, amount: float, *, high: float = 1.0) -> jax.Array:
    """Impulse noise: each pixel, all its channels together, becomes `high` (white) with probability `amount`."""
    return salt_and_pepper(key, image, amount, salt_vs_pepper=1.0, high=high)


def gaussian_noise(key: jax.Array, image: ArrayLike, sigma: float, *, mean: float = 0.0) -> jax.Array:
    """Gaussian noise f + μ + σz, z ~ N(0, 1) drawn independently for every value (pixel and channel)."""
    if sigma < 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    x, restore = _as_batch(image)
    return restore(x + mean + sigma * jax.random.normal(key, x.shape, x.dtype))
