"""What a visualisation looks at: a model with its weights, the images fed to it (as the model takes them and
as a person sees them) and the class names, from a finished run or from a zoo model with fresh weights."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np



@dataclasses.dataclass(frozen=True)
class Subject:
    title: str  # "lenet5, runs/x step 7035" or "resnet50, random weights"
    model: nn.Module
    variables: Any
    inputs: jax.Array  # (N, H, W, C) as the model takes them
    pictures: np.ndarray  # (N, H, W, C) as they are drawn
    labels: np.ndarray | None  # the true classes, where known
    class_names: tuple[str, ...]
    trained: Any = None  # the cnn.train.trained.Trained run, for the methods that read its workdir

    def predictions(self) -> np.ndarray:
        return np.asarray(jnp.argmax(self.model.apply(self.variables, self.inputs, train=False)[0], axis=1))


def read_image(path: str, shape: tuple[int, int, int]) -> np.ndarray:
    """The image file at `path` (PNG, JPEG... or a .npy array in [0, 255]) as uint8 (H, W, C) of `shape`:
    resized bilinearly, colour averaged to grey or grey repeated to RGB as the model needs."""
    if not os.path.isfile(path):
        raise ValueError(f"--image {path}: no such file")
    if path.endswith(".npy"):
        array = np.load(path).astype(np.float32)
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            array = np.asarray(Image.open(path).convert("RGB"), np.float32)
        except UnidentifiedImageError:
            raise ValueError(f"--image {path} is not an image file PIL can read (PNG, JPEG, ...)") from None
    array = array[..., None] if array.ndim == 2 else array
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"--image {path}: expected (H, W), (H, W, 1|3|4) pixels, got shape {array.shape}")
    array = array[..., :3]
    height, width, channels = shape
    if channels == 1 and array.shape[-1] == 3:
        array = array.mean(-1, keepdims=True)
    elif channels == 3 and array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    elif array.shape[-1] != channels:
        raise ValueError(f"--image {path} has {array.shape[-1]} channels and the model takes {channels}")
    resized = jax.image.resize(jnp.asarray(array), (height, width, channels), "bilinear")
    return np.asarray(jnp.clip(jnp.round(resized), 0, 255)).astype(np.uint8)


def from_run(workdir: str, checkpoint: str = "latest", indices: Sequence[int] = (0,),
             image: str | None = None) -> Subject:
    """A finished run's checkpoint with test images `indices` (or the file `image`), normalised as in training."""
    from cnn.train.compiled import input_normalizer
    from cnn.train.trained import load_trained

    trained = load_trained(workdir, checkpoint)
    dataset = trained.dataset
    if image is not None:
        picture, labels = read_image(image, dataset.image_shape)[None], None
    else:
        indices = np.asarray(indices)
        if indices.min() < 0 or indices.max() >= len(dataset.test):
            raise ValueError(f"--index must be in [0, {len(dataset.test)}) for {dataset.name}'s test split, "
                             f"got {indices.tolist()}")
        batch = dataset.test.batch(indices)
        picture, labels = batch["image"], np.asarray(batch["label"])
    inputs = input_normalizer(dataset)(jnp.asarray(picture))  # uint8 pixels as in training; float splits already are
    name = trained.config.model.name
    title = f"{name}, {os.path.basename(os.path.abspath(workdir))} step {trained.step}"
    return Subject(title, trained.model, trained.variables, inputs, np.asarray(picture), labels,
                   tuple(dataset.class_names), trained)


def from_model(name: str, image: str, input_size: int | None = None, seed: int = 0) -> Subject:
    """The zoo model `name` with initial weights (seed `seed`) looking at the file `image`, standardised to zero
    mean and unit variance (a model with fresh weights has no training statistics to normalise by)."""
    from cnn.models.registry import initialized, spec

    height, width, channels = spec(name).input_shape
    shape = (input_size, input_size, channels) if input_size else (height, width, channels)
    model, variables = initialized(name, shape, seed)
    picture = read_image(image, shape)[None]
    pixels = picture.astype(np.float32)
    inputs = jnp.asarray((pixels - pixels.mean()) / max(float(pixels.std()), 1e-6))
    names = tuple(str(k) for k in range(spec(name).num_classes))
    return Subject(f"{name}, random weights (seed {seed})", model, variables, inputs, picture, None, names)
