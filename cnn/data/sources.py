"""Datasets held in memory as normalised NHWC float32 arrays.

MNIST-style sets are read from IDX files found, in order, in `data_dir` (the
config's `dataset.data_dir`), in `$CNN_DATA_DIR`, then in the folder where the
Debian package puts them. Each base folder is tried as `<base>/<name>` and as
`<base>` itself, so one `$CNN_DATA_DIR` can hold several sets side by side.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from cnn.data.idx import IdxFormatError, read_idx
from cnn.suggest import unknown

DATA_DIR_ENV = "CNN_DATA_DIR"


class DatasetError(RuntimeError):
    """A dataset cannot be found or read; the message says how to get it."""


@dataclasses.dataclass(frozen=True)
class Split:
    """Images (N, H, W, C) float32, normalised, and integer labels (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    test: Split
    num_classes: int
    class_names: tuple[str, ...]
    # Per-channel statistics of the training images in [0, 1], used to normalise both splits.
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class IdxSpec:
    image_shape: tuple[int, int]
    class_names: tuple[str, ...]
    default_dirs: tuple[str, ...]
    how_to_get: str


IDX_SETS: dict[str, IdxSpec] = {
    "fashion_mnist": IdxSpec(
        image_shape=(28, 28),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        default_dirs=("/usr/share/datasets/fashion-mnist",),
        how_to_get=(
            "install it with `sudo apt-get install -y dataset-fashion-mnist` (Debian), or put the four "
            "files from https://github.com/zalandoresearch/fashion-mnist in a folder and set "
            f"dataset.data_dir or ${DATA_DIR_ENV} to it"
        ),
    ),
    "mnist": IdxSpec(
        image_shape=(28, 28),
        class_names=tuple(str(d) for d in range(10)),
        default_dirs=("/usr/share/datasets/mnist",),
        how_to_get=(
            "put the four files from http://yann.lecun.com/exdb/mnist/ in a folder and set "
            f"dataset.data_dir or ${DATA_DIR_ENV} to it"
        ),
    ),
}

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _candidate_dirs(name: str, data_dir: str | None) -> list[str]:
    bases = [d for d in (data_dir, os.environ.get(DATA_DIR_ENV)) if d] + list(IDX_SETS[name].default_dirs)
    dirs = []
    for base in bases:
        for d in (os.path.join(base, name), os.path.join(base, name.replace("_", "-")), base):
            if d not in dirs:
                dirs.append(d)
    return dirs


def _find_file(folder: str, stem: str) -> str | None:
    for candidate in (stem, stem + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def locate(name: str, data_dir: str | None = None) -> str:
    """Returns the first folder holding the training images of IDX set `name`."""
    if name not in IDX_SETS:
        raise DatasetError(unknown("dataset", name, IDX_SETS))
    searched = _candidate_dirs(name, data_dir)
    for folder in searched:
        if _find_file(folder, _FILES["train"][0]):
            return folder
    raise DatasetError(
        f"{name} not found: no {_FILES['train'][0]}[.gz] in any of {searched}. "
        f"To get it, {IDX_SETS[name].how_to_get}."
    )


def _read_split(name: str, folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    spec = IDX_SETS[name]
    paths = []
    for stem in _FILES[split]:
        path = _find_file(folder, stem)
        if path is None:
            raise DatasetError(
                f"{name}: {os.path.join(folder, stem)}[.gz] is missing. To get it, {spec.how_to_get}."
            )
        paths.append(path)
    try:
        images = read_idx(paths[0], ndim=3)
        labels = read_idx(paths[1], ndim=1)
    except IdxFormatError as e:
        raise DatasetError(f"{name}: {e}. To get a good copy, {spec.how_to_get}.") from None
    if images.shape[1:] != spec.image_shape:
        raise DatasetError(f"{paths[0]}: images are {images.shape[1:]}, {name} images are {spec.image_shape}")
    if len(images) != len(labels):
        raise DatasetError(f"{paths[0]} holds {len(images)} images but {paths[1]} holds {len(labels)} labels")
    if labels.size and labels.max() >= len(spec.class_names):
        raise DatasetError(f"{paths[1]}: label {labels.max()} out of range for {len(spec.class_names)} classes")
    return images, labels


def load_idx_dataset(name: str, data_dir: str | None = None) -> Dataset:
    """Loads IDX set `name` ("fashion_mnist" or "mnist") into memory, normalised by train statistics."""
    folder = locate(name, data_dir)
    train_images, train_labels = _read_split(name, folder, "train")
    test_images, test_labels = _read_split(name, folder, "test")
    scaled = train_images.astype(np.float64) / 255.0
    mean, std = float(scaled.mean()), float(scaled.std())

    def normalise(images: np.ndarray) -> np.ndarray:
        x = (images.astype(np.float32) / 255.0 - np.float32(mean)) / np.float32(std)
        return x[..., None]

    spec = IDX_SETS[name]
    return Dataset(
        name=name,
        train=Split(normalise(train_images), train_labels.astype(np.int32)),
        test=Split(normalise(test_images), test_labels.astype(np.int32)),
        num_classes=len(spec.class_names),
        class_names=spec.class_names,
        mean=(mean,),
        std=(std,),
    )


def load(name: str, data_dir: str | None = None) -> Dataset:
    """Loads the dataset named in config (`dataset.name`)."""
    return load_idx_dataset(name, data_dir)
