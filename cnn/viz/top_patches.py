"""The image patches that excite one channel most: nearest-neighbour patches of a unit.

Zeiler & Fergus (2014, "Visualizing and Understanding Convolutional Networks", figure 2) show, beside each
feature map's deconvolution, the patches of the validation images that gave the map its strongest
activations; the notes call these a unit's nearest-neighbour patches. Every position of a feature map
is a unit with the same weights, so for channel k of a layer the candidates are all (image, position)
pairs: the k largest activations over a set of images are found, and each image is cropped to the
theoretical receptive field of the unit at that position (`cnn.analysis.receptive_field`, read off the
model's own program), which is everything that unit can have responded to. A field near the border
reaches past the image; those pixels are filled with the image's minimum and the patch is marked as
clipped, so every patch of a layer has the field's size.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnn.analysis.receptive_field import Field, FieldMap, trace_fields
from cnn.viz.plots import plot_image_grid
from cnn.viz.probe import activations


@dataclasses.dataclass(frozen=True)
class TopPatch:
    image_index: int  # into the images searched
    unit: tuple[int, int]  # (row, column) of the unit in the layer's feature map
    activation: float  # the channel's value at that unit
    bounds: tuple[tuple[int, int], tuple[int, int]]  # (first, last) input row and column of the unit's field
    patch: np.ndarray  # (field height, field width, C): the image inside `bounds`
    clipped: bool  # the field reaches past the image; those pixels of `patch` hold the image's minimum


def _field(model: nn.Module, images: np.ndarray, layer: str, fields: FieldMap | None) -> Field:
    """The receptive field of `layer`, a tap (as `cnn.viz.probe` looks them up first) or a module path."""
    field_map = fields or trace_fields(model, images.shape[1:])
    field = field_map.field(f"tap:{layer}" if layer in field_map.taps else layer)
    if not field.spatial or len(field.size) != 2:
        raise ValueError(f"layer {layer!r} has no 2-D feature map (it is past global pooling or flattening); "
                         "give a convolutional layer or tap")
    return field


def crop(image: np.ndarray, bounds: Sequence[tuple[float, float]]) -> tuple[np.ndarray, bool]:
    """The (H, W, C) `image` inside `bounds` ((first, last) row and column, inclusive, possibly past the
    image; fractional bounds widen to whole pixels), with the image's minimum outside it, and whether the
    bounds reached past the image."""
    (top, bottom), (left, right) = [(math.floor(first), math.ceil(last)) for first, last in bounds]
    height, width = image.shape[:2]
    patch = np.full((bottom - top + 1, right - left + 1, *image.shape[2:]), image.min(), image.dtype)
    rows = slice(max(top, 0), min(bottom, height - 1) + 1)
    cols = slice(max(left, 0), min(right, width - 1) + 1)
    patch[rows.start - top:rows.stop - top, cols.start - left:cols.stop - left] = image[rows, cols]
    return patch, top < 0 or left < 0 or bottom >= height or right >= width


def top_patches(model: nn.Module, variables: Any, images: np.ndarray, layer: str, channel: int, *, k: int = 9,
                batch_size: int = 64, fields: FieldMap | None = None) -> list[TopPatch]:
    """The `k` (image, position) pairs of `images` (N, H, W, C) where `channel` of `layer` (a tap name or module
    path) is largest, strongest first (ties: the earlier image, row, column), each with its receptive-field
    patch. `fields`: the model's traced fields at this input shape, if the caller has them already."""
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, H, W, C) batch, got shape {images.shape}")
    if k < 1 or batch_size < 1:
        raise ValueError(f"k and batch_size must be >= 1, got k={k}, batch_size={batch_size}")
    field = _field(model, images, layer, fields)
    batch_size = min(batch_size, len(images))
    spec = jax.ShapeDtypeStruct((batch_size, *images.shape[1:]), jnp.float32)
    shape = jax.eval_shape(lambda x: activations(model, variables, x, [layer])[layer], spec).shape
    if not 0 <= channel < shape[-1]:
        raise ValueError(f"channel {channel} is out of range: layer {layer!r} has {shape[-1]} channels, "
                         f"0 to {shape[-1] - 1}")
    grid = shape[1:3]
    select = jax.jit(lambda x: activations(model, variables, x, [layer])[layer][..., channel])

    values, indices = np.empty(0, np.float32), np.empty(0, np.int64)
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        # The last batch is padded to the others' size, so the model compiles once.
        padded = np.concatenate([batch, np.zeros((batch_size - len(batch), *batch.shape[1:]), batch.dtype)])
        found = np.asarray(select(jnp.asarray(padded, jnp.float32)))[:len(batch)].ravel()
        values = np.concatenate([values, found])
        indices = np.concatenate([indices, start * math.prod(grid) + np.arange(found.size)])
        keep = np.lexsort((indices, -values))[:k]
        values, indices = values[keep], indices[keep]

    results = []
    for value, index in zip(values, indices):
        image_index, row, col = (int(i) for i in np.unravel_index(index, (len(images), *grid)))
        bounds = tuple((math.floor(first), math.ceil(last)) for first, last in field.bounds((row, col)))
        patch, clipped = crop(images[image_index], bounds)
        results.append(TopPatch(image_index, (row, col), float(value), bounds, patch, clipped))
    return results


def plot_top_patches(patches: Sequence[TopPatch], path: str, title: str = "", columns: int | None = None) -> str:
    """The patches in a grid, strongest first, each titled by its image, unit and activation (an asterisk
    where the field reaches past the image); writes a PNG at `path`."""
    titles = [f"#{p.image_index} {p.unit} {p.activation:.3g}{'*' if p.clipped else ''}" for p in patches]
    return plot_image_grid([p.patch for p in patches], path, titles=titles, title=title, columns=columns)
