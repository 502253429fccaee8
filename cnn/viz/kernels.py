"""Learned convolution filters as pictures: one layer's kernels, and how they change over a run's checkpoints.

A layer is named by its module path as `launch.py summary --depth N` lists it ("stem_conv",
"layer1/block2/conv1"). The first convolution, the one that reads the image, is found by tracing the
model's initialisation and taking the first module that creates a 2D kernel (kh, kw, C_in, C_out):
parameter trees come back with their keys sorted, so their order says nothing about the network's
(ResNet's "stage1_block1/conv1" sorts before "stem_conv").

Each filter is scaled to its own range, as AlexNet's figure 3 draws its first layer: a 3-channel
first-layer filter becomes one RGB tile, a 1-channel one a grey tile, and a deeper filter a grey tile
per input channel, all of a filter's tiles sharing its scale so that its input channels compare.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict
from matplotlib.figure import Figure

from cnn.viz.plots import save_png


class Snapshot(NamedTuple):
    step: int  # the checkpoint's step
    epoch: float  # step / steps per epoch, as metrics.jsonl records it
    kernel: np.ndarray  # (kh, kw, C_in, C_out)


def _kernel_at(params: Mapping, path: Sequence[str]) -> Any:
    """The rank-4 `kernel` the module at `path` owns itself, or None."""
    for key in path:
        params = params.get(key) if isinstance(params, Mapping) else None
    kernel = params.get("kernel") if isinstance(params, Mapping) else None
    return kernel if getattr(kernel, "ndim", None) == 4 else None


def conv_layers(model: nn.Module, input_shape: Sequence[int]) -> list[str]:
    """The paths of the modules that own a 2D convolution kernel, in the order the model first calls them on an
    image of `input_shape` (H, W, C); traced with `jax.eval_shape`, so nothing is computed."""
    called: dict[tuple[str, ...], None] = {}

    def record(next_fun, args, kwargs, context):
        called.setdefault(context.module.path)  # on entry, so each module is placed where its work starts
        return next_fun(*args, **kwargs)

    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    with nn.intercept_methods(record):
        variables = jax.eval_shape(lambda inputs: model.init(jax.random.key(0), inputs, train=False), x)
    params = variables.get("params", {})
    return ["/".join(path) for path in called if _kernel_at(params, path) is not None]


def first_conv_layer(model: nn.Module, input_shape: Sequence[int]) -> str:
    """The path of the convolution that reads the input (the first 2D kernel the model creates)."""
    layers = conv_layers(model, input_shape)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no 2D convolution (no module owns a (kh, kw, C_in, C_out) "
                         "kernel), so it has no filters to draw")
    return layers[0]


def conv_kernel(variables: Mapping[str, Any], layer: str) -> np.ndarray:
    """The (kh, kw, C_in, C_out) kernel of the convolution at module path `layer` ("/"-joined), as numpy."""
    if "params" not in variables:
        raise ValueError(f"variables hold no 'params' (they have {sorted(variables)}); pass the dict model.apply "
                         "takes, e.g. load_trained(workdir).variables")
    kernel = _kernel_at(variables["params"], layer.split("/"))
    if kernel is None:
        convs = sorted("/".join(p[:-1]) for p, v in flatten_dict(dict(variables["params"])).items()
                       if p[-1] == "kernel" and getattr(v, "ndim", None) == 4)
        raise ValueError(f"no 2D convolution kernel at {layer!r}; the model's convolutions are {convs} "
                         "(conv_layers lists them in network order)")
    return np.array(kernel)


def first_conv_kernel(model: nn.Module, variables: Mapping[str, Any], input_shape: Sequence[int]) -> np.ndarray:
    """The kernel of the convolution that reads the input, e.g. (5, 5, 1, 6) for LeNet-5, (7, 7, 3, 64) for ResNet."""
    return conv_kernel(variables, first_conv_layer(model, input_shape))


def _check_kernel(kernel: np.ndarray) -> np.ndarray:
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 4:
        raise ValueError(f"need a 2D convolution kernel (kh, kw, C_in, C_out), got shape {kernel.shape}; "
                         "conv_kernel(variables, layer) gives one")
    return kernel


def filter_tiles(kernel: np.ndarray, input_channel: int | None = None) -> np.ndarray:
    """A (kh, kw, C_in, C_out) kernel as tiles in [0, 1], each output filter scaled by its own minimum and maximum
    over all its weights (a constant filter is mid-grey):

    - C_in = 3: (C_out, kh, kw, 3) RGB tiles, one per filter;
    - C_in = 1: (C_out, kh, kw) grey tiles;
    - otherwise (C_in, C_out, kh, kw) grey tiles, one per input channel and filter;
    - with `input_channel` c: (C_out, kh, kw) grey tiles of each filter's weights on input channel c.
    """
    kernel = _check_kernel(kernel)
    cin = kernel.shape[2]
    low = kernel.min(axis=(0, 1, 2), keepdims=True)
    span = kernel.max(axis=(0, 1, 2), keepdims=True) - low
    scaled = np.where(span > 0, (kernel - low) / np.where(span > 0, span, 1.0), 0.5)
    if input_channel is not None:
        if not 0 <= input_channel < cin:
            raise ValueError(f"input_channel {input_channel} is out of range: the kernel {kernel.shape} has "
                             f"{cin} input channels, 0 to {cin - 1}")
        return scaled[:, :, input_channel].transpose(2, 0, 1)
    if cin == 3:
        return scaled.transpose(3, 0, 1, 2)
    if cin == 1:
        return scaled[:, :, 0].transpose(2, 0, 1)
    return scaled.transpose(2, 3, 0, 1)


def _filter_row(kernel: np.ndarray, input_channel: int | None) -> np.ndarray:
    """One RGBA tile per output filter, (C_out, kh, kw, 4)."""
    kernel = _check_kernel(kernel)
    if input_channel is None and kernel.shape[2] not in (1, 3):
        raise ValueError(f"a kernel with {kernel.shape[2]} input channels draws one tile per input channel and "
                         "filter; pass input_channel=c to draw each filter's weights on channel c")
    return _rgba(filter_tiles(kernel, input_channel), rgb=input_channel is None and kernel.shape[2] == 3)


def _rgba(tiles: np.ndarray, rgb: bool) -> np.ndarray:
    colour = tiles if rgb else np.repeat(tiles[..., None], 3, axis=-1)
    return np.concatenate([colour, np.ones_like(colour[..., :1])], axis=-1)


def _mosaic(grid: np.ndarray) -> np.ndarray:
    """(rows, columns, h, w, 4) RGBA tiles as one image with a transparent pixel between tiles: one imshow keeps
    every tile's scaling as given (plot_image_grid restretches each tile) and draws hundreds of tiles quickly."""
    rows, columns, h, w, _ = grid.shape
    padded = np.pad(grid, ((0, 0), (0, 0), (0, 1), (0, 1), (0, 0)))  # alpha 0: the gap
    return padded.transpose(0, 2, 1, 3, 4).reshape(rows * (h + 1), columns * (w + 1), 4)[:-1, :-1]


def _draw(grid: np.ndarray, path: str, title: str, row_labels: Sequence[str] | None, xlabel: str,
          ylabel: str = "") -> str:
    rows, columns, h, w, _ = grid.shape
    tile = min(0.45, 16 / columns, 16 / rows)  # inches per tile, so big layers still fit a page
    label_inches = 1.2 if row_labels else 0.3
    fig = Figure(figsize=(columns * tile + label_inches, rows * tile + 0.8 + (0.3 if title else 0)),
                 layout="constrained")
    ax = fig.subplots()
    ax.imshow(_mosaic(grid), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([r * (h + 1) + (h - 1) / 2 for r in range(rows)] if row_labels else [], row_labels or [],
                  fontsize=7)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return save_png(fig, path)


def plot_filters(kernel: np.ndarray, path: str, title: str = "", input_channel: int | None = None) -> str:
    """The filters of one kernel (`filter_tiles`) in a grid; a deep kernel without `input_channel` as one row
    per input channel and one column per filter. Writes a PNG at `path`."""
    kernel = _check_kernel(kernel)
    cin, cout = kernel.shape[2:]
    scale = "each filter scaled to its own range"
    if input_channel is None and cin not in (1, 3):
        grid = _rgba(filter_tiles(kernel), rgb=False)
        return _draw(grid, path, title, None, f"{cout} filters ({scale})", f"{cin} input channels")
    row = _filter_row(kernel, input_channel)
    columns = math.ceil(math.sqrt(cout))
    rows = math.ceil(cout / columns)
    blank = np.zeros((rows * columns - cout, *row.shape[1:]))  # alpha 0: empty places after the last filter
    grid = np.concatenate([row, blank]).reshape(rows, columns, *row.shape[1:])
    channel = "" if input_channel is None else f", weights on input channel {input_channel}"
    return _draw(grid, path, title, None, f"{cout} filters, left to right, top to bottom ({scale}{channel})")


def _epoch_text(epoch: float) -> str:
    return f"{round(epoch, 2):g}"


def plot_filter_evolution(evolution: Sequence[Snapshot], path: str, title: str = "",
                          input_channel: int | None = None) -> str:
    """One row per checkpoint (labelled with its epoch and step), one column per filter, each filter scaled to its
    own range in each checkpoint; `input_channel` picks the channel drawn of a deep kernel. Writes a PNG."""
    if not evolution:
        raise ValueError(f"no checkpoints to draw for {path}: filter_evolution found none in the workdir")
    shapes = {np.shape(snapshot.kernel) for snapshot in evolution}
    if len(shapes) != 1:
        raise ValueError(f"the checkpoints' kernels differ in shape ({sorted(shapes)}); pass those of one layer")
    grid = np.stack([_filter_row(snapshot.kernel, input_channel) for snapshot in evolution])
    labels = [f"epoch {_epoch_text(snapshot.epoch)}\nstep {snapshot.step}" for snapshot in evolution]
    channel = "" if input_channel is None else f", weights on input channel {input_channel}"
    return _draw(grid, path, title, labels, f"{grid.shape[1]} filters (each scaled to its own range{channel})")


def filter_evolution(workdir: str, layer: str | None = None) -> list[Snapshot]:
    """The kernel of `layer` (default: the first convolution) at every checkpoint `workdir` keeps, oldest first."""
    # Here, not at the top: cnn.train imports cnn.viz to draw its curves.
    from cnn.train.trained import read_run, run_model

    run = read_run(workdir)  # its fresh state is the template every checkpoint restores into
    try:
        layer = layer or first_conv_layer(run_model(run), run.dataset.image_shape)
        conv_kernel({"params": run.state.params}, layer)  # a wrong name fails here, before the checkpoints are read
        evolution = []
        for step in run.checkpointer.steps():
            state = run.checkpointer.restore(run.state, step)
            evolution.append(Snapshot(step, step / run.per_epoch, conv_kernel({"params": state.params}, layer)))
    finally:
        run.checkpointer.close()
    return evolution
