"""Rotation and cutout of NHWC batches on device; `cnn.data.augment.augment` applies them from the config.

Like the rest of `cnn.data.augment`, each draws one set of parameters per example from its key,
keeps static shapes and runs vectorised over the batch, so it can sit inside the jitted train step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# How far (in pixels) outside the image a source point still counts as on its border. scipy works in
# float64 with exact sines at multiples of 90°; in float32 a source point on the border (as all border
# points are at 90° on a square image) can land a rounding error outside it, far below this slack.
_BORDER_SLACK = 1e-4


def _rotate_one(image: jax.Array, degrees: jax.Array) -> jax.Array:
    height, width, _ = image.shape
    theta = jnp.deg2rad(degrees.astype(jnp.float32))
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    centre_row, centre_col = (height - 1) / 2, (width - 1) / 2
    rows, cols = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32) - centre_row,
                              jnp.arange(width, dtype=jnp.float32) - centre_col, indexing="ij")
    source_row = centre_row + cos * rows + sin * cols
    source_col = centre_col - sin * rows + cos * cols
    inside = ((source_row >= -_BORDER_SLACK) & (source_row <= height - 1 + _BORDER_SLACK)
              & (source_col >= -_BORDER_SLACK) & (source_col <= width - 1 + _BORDER_SLACK))
    row0 = jnp.clip(jnp.floor(source_row), 0, height - 1)
    col0 = jnp.clip(jnp.floor(source_col), 0, width - 1)
    row_frac, col_frac = (source_row - row0)[..., None], (source_col - col0)[..., None]
    row0, col0 = row0.astype(jnp.int32), col0.astype(jnp.int32)
    # Inside the image, row0 + 1 passes the last row only for a source point on it (row_frac within the
    # slack of 0), so clamping it changes no value beyond rounding; likewise for columns.
    row1, col1 = jnp.minimum(row0 + 1, height - 1), jnp.minimum(col0 + 1, width - 1)
    value = ((1 - row_frac) * (1 - col_frac) * image[row0, col0] + (1 - row_frac) * col_frac * image[row0, col1]
             + row_frac * (1 - col_frac) * image[row1, col0] + row_frac * col_frac * image[row1, col1])
    return jnp.where(inside[..., None], value, 0).astype(image.dtype)


def rotate(images: jax.Array, degrees: jax.Array) -> jax.Array:
    """Rotates example i of the NHWC batch by degrees[i] about its centre, bilinearly, filling with 0.

    `scipy.ndimage.rotate(x, degrees, reshape=False, order=1, mode="constant", cval=0)` in float32: output
    pixel (r, c) samples the input at
        r' = r0 + cos θ (r − r0) + sin θ (c − c0),   c' = c0 − sin θ (r − r0) + cos θ (c − c0),
    with the centre (r0, c0) = ((H − 1) / 2, (W − 1) / 2), interpolating its four neighbours, and is 0
    where (r', c') lies outside [0, H − 1] × [0, W − 1]. With row 0 at the top, as images are shown,
    a positive angle turns the content counter-clockwise.
    """
    if images.ndim != 4 or jnp.shape(degrees) != images.shape[:1]:
        raise ValueError(f"expected an NHWC batch and one angle per example, got shapes {images.shape} "
                         f"and {jnp.shape(degrees)}")
    return jax.vmap(_rotate_one)(images, jnp.asarray(degrees))


def random_rotate(key: jax.Array, images: jax.Array, max_degrees: float) -> jax.Array:
    """`rotate` by an angle per example uniform in [-max_degrees, max_degrees],
    `jax.random.uniform(key, (N,), minval=-max_degrees, maxval=max_degrees)`."""
    if not 0 <= max_degrees <= 180:
        raise ValueError(f"rotation max_degrees must be in [0, 180], got {max_degrees}")
    degrees = jax.random.uniform(key, images.shape[:1], minval=-max_degrees, maxval=max_degrees)
    return rotate(images, degrees)


def random_cutout(key: jax.Array, images: jax.Array, side: int) -> jax.Array:
    """Zeroes a side × side square per example (cutout, DeVries & Taylor 2017), clipped at the borders.

    The centre (y, x) of example i is uniform over its pixels, `jax.random.randint(key, (N, 2), 0,
    (H, W))`, and rows [y − side // 2, y − side // 2 + side) × columns [x − side // 2, x − side // 2
    + side), intersected with the image, become 0. For even sides this is the authors' code
    (rows y − side/2 to y + side/2); for odd ones their square is one pixel short, ours is side wide.
    On normalised images 0 is the dataset mean, which is where the authors apply it too.
    """
    if images.ndim != 4:
        raise ValueError(f"expected an NHWC batch of images, got shape {images.shape}")
    n, height, width, _ = images.shape
    if not 0 <= side <= min(height, width):
        raise ValueError(f"cutout side must be in [0, {min(height, width)}] for {height}×{width} images, got {side}")
    centres = jax.random.randint(key, (n, 2), 0, jnp.array([height, width]))
    top, left = (centres - side // 2).T
    rows, cols = jnp.arange(height), jnp.arange(width)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + side)  # (N, H)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + side)  # (N, W)
    square = in_rows[:, :, None, None] & in_cols[:, None, :, None]
    return jnp.where(square, jnp.zeros((), images.dtype), images)
