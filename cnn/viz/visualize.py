"""`launch.py visualize`: each method computed on a Subject, written as PNGs with the raw arrays as .npy."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np

from cnn.suggest import unknown
from cnn.viz import activation_max, attribution, cam, confusion, feature_maps, kernels, occlusion, probe, top_patches
from cnn.viz.plots import plot_curves, plot_image_grid, plot_overlays
from cnn.viz.subject import Subject


TOP_PATCH_IMAGES = 2000  # test images searched for a unit's strongest responses


@dataclasses.dataclass(frozen=True)
class Options:
    layer: str | None = None  # a tap or module path; each method has its default
    class_index: int | None = None  # the class explained; default: each image's predicted class
    unit: int | None = None  # a channel of `layer`: top_patches, activation_max, filters, and the gradient images
    patch: int | None = None  # occlusion: the square's side (default: a seventh of the image's side)
    stride: int | None = None  # occlusion: its step (default: half the patch)


def _classes(subject: Subject, options: Options) -> np.ndarray:
    if options.class_index is None:
        return subject.predictions()
    if not 0 <= options.class_index < len(subject.class_names):
        raise ValueError(f"--class must be in [0, {len(subject.class_names)}), got {options.class_index}")
    return np.full(len(subject.inputs), options.class_index)


def _captions(subject: Subject, classes: np.ndarray) -> list[str]:
    truth = subject.labels if subject.labels is not None else [None] * len(classes)
    return [f"{subject.class_names[c]}" + (f" (true: {subject.class_names[t]})" if t is not None and t != c else "")
            for c, t in zip(classes, truth)]


def _save(out: str, name: str, array) -> None:
    np.save(os.path.join(out, f"{name}.npy"), np.asarray(array))


def _feature_maps(subject: Subject, options: Options, out: str) -> list[str]:
    paths = []
    layers = [options.layer] if options.layer else None
    for depth, (layer, maps) in enumerate(feature_maps.feature_maps(subject.model, subject.variables,
                                                                    subject.inputs[0], layers).items()):
        name = f"feature_maps_{depth}_{layer.replace('/', '.')}"
        _save(out, name, maps)
        paths.append(feature_maps.plot_feature_maps(maps, os.path.join(out, f"{name}.png"),
                                                    f"{subject.title}: {layer}"))
    return paths


def _gradient_images(method: str) -> Callable[[Subject, Options, str], list[str]]:
    rule = {"saliency": "gradient", "deconvnet": "deconvnet", "guided_backprop": "guided"}[method]

    def run(subject: Subject, options: Options, out: str) -> list[str]:
        classes = _classes(subject, options)
        if options.layer is not None and options.unit is not None:  # Zeiler & Fergus: one feature map's top unit
            result = attribution.input_gradient(subject.model, subject.variables, subject.inputs, None, rule,
                                                options.layer, options.unit)
            captions = [f"{options.layer} channel {options.unit}"] * len(classes)
        else:
            result = attribution.input_gradient(subject.model, subject.variables, subject.inputs, classes, rule)
            captions = _captions(subject, classes)
        result = np.abs(result).max(-1) if method == "saliency" else np.asarray(result)
        _save(out, method, result)
        heat = "hot" if method == "saliency" else "gray"
        return [plot_image_grid([*subject.pictures, *result], os.path.join(out, f"{method}.png"),
                                captions + [""] * len(classes), f"{subject.title}: {method.replace('_', ' ')}",
                                columns=len(classes), cmap=["gray"] * len(classes) + [heat] * len(classes),
                                tile_inches=1.6)]

    return run


def _class_maps(method: str) -> Callable[[Subject, Options, str], list[str]]:
    compute = {"cam": cam.cam, "gradcam": cam.grad_cam}[method]

    def run(subject: Subject, options: Options, out: str) -> list[str]:
        classes = _classes(subject, options)
        maps = np.asarray(compute(subject.model, subject.variables, subject.inputs, classes, options.layer))
        _save(out, method, maps)
        title = f"{subject.title}: {'Grad-CAM' if method == 'gradcam' else 'CAM'}"
        return [plot_overlays(list(subject.pictures), list(maps), os.path.join(out, f"{method}.png"),
                              _captions(subject, classes), title)]

    return run


def _occlusion(subject: Subject, options: Options, out: str) -> list[str]:
    classes = _classes(subject, options)
    side = min(subject.inputs.shape[1:3])
    patch = options.patch or max(2, side // 7)
    stride = options.stride or max(1, patch // 2)
    results = [occlusion.occlusion(subject.model, subject.variables, image, int(c), patch, stride)
               for image, c in zip(subject.inputs, classes)]
    _save(out, "occlusion", np.stack([r.pixel_map for r in results]))
    captions = [f"{caption}: p={r.probability:.2f}" for caption, r in zip(_captions(subject, classes), results)]
    return [plot_overlays(list(subject.pictures), [r.pixel_map for r in results], os.path.join(out, "occlusion.png"),
                          captions, f"{subject.title}: occlusion, {patch}×{patch} grey patch, stride {stride}")]


def _activation_max(subject: Subject, options: Options, out: str) -> list[str]:
    shape = subject.inputs.shape[1:]
    if options.layer:
        channels = [options.unit] if options.unit is not None else range(8)
        targets = [{"layer": options.layer, "channel": c} for c in channels]
    else:
        classes = range(min(10, len(subject.class_names))) if options.class_index is None else [options.class_index]
        targets = [{"class_index": c} for c in classes]
    results = [activation_max.activation_maximization(subject.model, subject.variables, shape, **t) for t in targets]
    _save(out, "activation_max", np.stack([r.image for r in results]))
    titles = [f"{subject.class_names[t['class_index']]}" if "class_index" in t else f"channel {t['channel']}"
              for t in targets]
    titles = [f"{name}\n{r.start_score:.3g} → {r.final_score:.3g}" for name, r in zip(titles, results)]
    return [activation_max.plot_activation_max(results, os.path.join(out, "activation_max.png"), titles,
                                               f"{subject.title}: activation maximisation")]


def _top_patches(subject: Subject, options: Options, out: str) -> list[str]:
    images = subject.trained.test_images(TOP_PATCH_IMAGES) if subject.trained is not None else subject.inputs
    layer = options.layer or probe.last_spatial_tap(subject.model, subject.variables, subject.inputs.shape[1:])
    channels = [options.unit] if options.unit is not None else range(4)
    paths = []
    for channel in channels:
        found = top_patches.top_patches(subject.model, subject.variables, images, layer, channel)
        name = f"top_patches_{layer.replace('/', '.')}_{channel}"
        _save(out, name, np.stack([p.patch for p in found]))
        paths.append(top_patches.plot_top_patches(found, os.path.join(out, f"{name}.png"),
                                                  f"{subject.title}\n{layer} channel {channel}: top {len(found)} "
                                                  f"of {len(images)} images"))
    return paths


def _filters(subject: Subject, options: Options, out: str) -> list[str]:
    layer = options.layer or kernels.first_conv_layer(subject.model, subject.inputs.shape[1:])
    kernel = kernels.conv_kernel(subject.variables, layer)
    _save(out, "filters", kernel)
    channel = options.unit if kernel.shape[2] not in (1, 3) else None
    return [kernels.plot_filters(kernel, os.path.join(out, "filters.png"), f"{subject.title}: {layer}", channel)]


def _filter_evolution(subject: Subject, options: Options, out: str) -> list[str]:
    evolution = kernels.filter_evolution(_workdir(subject, "filter_evolution"), options.layer)
    _save(out, "filter_evolution", np.stack([snapshot.kernel for snapshot in evolution]))
    kernel = evolution[-1].kernel
    channel = (options.unit or 0) if kernel.shape[2] not in (1, 3) else None
    return [kernels.plot_filter_evolution(evolution, os.path.join(out, "filter_evolution.png"), subject.title,
                                          channel)]


def _confusion(subject: Subject, options: Options, out: str) -> list[str]:
    _workdir(subject, "confusion")
    matrix = confusion.trained_confusion(subject.trained)
    _save(out, "confusion", matrix)
    return [confusion.plot_confusion(matrix, subject.class_names, os.path.join(out, "confusion.png"),
                                     subject.title)]


def _curves(subject: Subject, options: Options, out: str) -> list[str]:
    from cnn.train.metrics import read_metrics

    workdir = _workdir(subject, "curves")
    return [plot_curves(read_metrics(workdir), os.path.join(out, "curves.png"), subject.title)]


def _workdir(subject: Subject, method: str) -> str:
    if subject.trained is None:
        raise ValueError(f"{method} reads a run's workdir: give --workdir DIR instead of --model")
    return subject.trained.workdir


METHODS: dict[str, Callable[[Subject, Options, str], list[str]]] = {
    "feature_maps": _feature_maps,
    "saliency": _gradient_images("saliency"),
    "deconvnet": _gradient_images("deconvnet"),
    "guided_backprop": _gradient_images("guided_backprop"),
    "occlusion": _occlusion,
    "cam": _class_maps("cam"),
    "gradcam": _class_maps("gradcam"),
    "activation_max": _activation_max,
    "top_patches": _top_patches,
    "filters": _filters,
    "filter_evolution": _filter_evolution,
    "confusion": _confusion,
    "curves": _curves,
}


def visualize(subject: Subject, method: str, out: str, options: Options = Options()) -> list[str]:
    """Runs `method` (one of METHODS) on `subject`, writing PNGs and .npy arrays into `out`; the PNGs' paths."""
    if method not in METHODS:
        raise ValueError(unknown("visualisation method", method, METHODS))
    os.makedirs(out, exist_ok=True)
    return METHODS[method](subject, options, out)
