"""Datasets held in memory as normalised NHWC float32 arrays.

MNIST-style sets are read from IDX files found, in order, in `data_dir` (the
config's `dataset.data_dir`), in `$CNN_DATA_DIR`, then in the folder where the
Debian package puts them. Each base folder is tried as `<base>/<name>` and as
`<base>` itself, so one `$CNN_DATA_DIR` can hold several sets side by side.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Protocol

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

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.images.shape[1:]

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """The examples at `idx`; `rng` is for sources with random host-side transforms (unused here)."""
        return {"image": self.images[idx], "label": self.labels[idx]}


class RandomAccessSplit(Protocol):
    """What the batch pipeline needs from a split: in memory (`Split`), TFDS or synthetic.

    `batch(idx, rng)` returns {"image": (len(idx), *image_shape), "label": (len(idx),)}; with an
    `rng` it applies the split's training-time host transforms (e.g. random resized crops),
    without one its evaluation transforms.
    """

    image_shape: tuple[int, ...]

    def __len__(self) -> int: ...

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]: ...


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    train: RandomAccessSplit
    test: RandomAccessSplit
    num_classes: int
    class_names: tuple[str, ...]
    # Per-channel statistics of the training images in [0, 1]. Splits of float images are already
    # normalised by them; splits of uint8 images are normalised on device (`cnn.data.augment.normalize`).
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.train.image_shape


@dataclasses.dataclass(frozen=True)
class IdxSpec:
    image_shape: tuple[int, int]
    class_names: tuple[str, ...]
    default_dirs: tuple[str, ...]
    how_to_get: str
    # Base URLs (ending in "/") tried in order when the set is downloaded (cnn.data.download).
    mirrors: tuple[str, ...]
    # (file name, SHA-256 of the official .gz file) for each of the four files.
    sha256: tuple[tuple[str, str], ...]


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
        # The S3 site is where Fashion-MNIST's README links; its repository holds the same files.
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        # The README publishes MD5s only (8d4fb7e6…, 25c81989…, bef4ecab…, bb300cfd…); these are the
        # SHA-256s of the files with those MD5s (tests/data/test_download.py rebuilds them from Debian's copy).
        sha256=(
            ("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            ("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            ("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            ("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        ),
    ),
    "mnist": IdxSpec(
        image_shape=(28, 28),
        class_names=tuple(str(d) for d in range(10)),
        default_dirs=("/usr/share/datasets/mnist",),
        how_to_get=(
            "put the four files from http://yann.lecun.com/exdb/mnist/ (or its mirror "
            "https://ossci-datasets.s3.amazonaws.com/mnist/) in a folder and set "
            f"dataset.data_dir or ${DATA_DIR_ENV} to it"
        ),
        # LeCun's site often refuses downloads, so the mirrors PyTorch and TFDS use follow it.
        mirrors=(
            "http://yann.lecun.com/exdb/mnist/",
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        # LeCun publishes no checksums; these are the widely published SHA-256s of his files
        # (MD5s f68b3c2d…, d53e105e…, 9fb629c4…, ec29112d…), the same on every mirror.
        sha256=(
            ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
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
    """Returns the first folder holding the training images of IDX set `name`.

    When none does, the set is downloaded into `download.target_dir(name, data_dir)` and that
    folder is returned, unless `$CNN_NO_DOWNLOAD` is set.
    """
    # Imported here because cnn.data.download itself imports this module (DatasetError, IDX_SETS).
    from cnn.data import download

    if name not in IDX_SETS:
        raise DatasetError(unknown("dataset", name, IDX_SETS))
    searched = _candidate_dirs(name, data_dir)
    cached = os.path.join(download.cache_dir(), name)
    if cached not in searched:
        searched.append(cached)
    for folder in searched:
        if _find_file(folder, _FILES["train"][0]):
            return folder
    not_found = f"{name} not found: no {_FILES['train'][0]}[.gz] in any of {searched}"
    how = f"To get it, {IDX_SETS[name].how_to_get}."
    if download.downloads_disabled():
        raise DatasetError(f"{not_found}; not downloaded because ${download.NO_DOWNLOAD_ENV} is set. {how}")
    target = download.target_dir(name, data_dir)
    try:
        download.download(name, target)
    except DatasetError as e:
        raise DatasetError(f"{not_found}, and the download failed: {e}. {how}") from None
    return target


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
    # From the 256-bin histogram of the uint8 pixels: exact, and a tenth of the time of a float64 copy.
    counts = np.bincount(train_images.ravel(), minlength=256)
    values = np.arange(256) / 255.0
    mean = float(counts @ values / counts.sum())
    std = float(np.sqrt(counts @ (values - mean) ** 2 / counts.sum()))

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
