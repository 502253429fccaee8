"""Any tensorflow-datasets dataset by name (`dataset.name = "tfds:cifar10"`), read by random access.

TFDS's random-access data sources (ArrayRecord files) let the batch pipeline decode only
the examples of each batch, in the (seed, step)-determined order every other source uses:
nothing is held in memory, and a resumed run reads the same batches. Images stay uint8 on
the host and are normalised on device.

With `dataset.image_size = 0` images are used as stored (they must all have one size, as in
CIFAR or MNIST). With `image_size = S` the standard ImageNet-style transforms apply:
training examples get an Inception-style random resized crop (area 8-100%, aspect 3/4-4/3)
scaled to S×S; evaluation examples are resized so the shorter side is S/0.875 and centre
cropped to S×S.

The dataset must have been prepared once in a random-access format (needs TensorFlow and
the network): `tfds build NAME --file_format=array_record [--data_dir DIR]`.
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from cnn.data.sources import Dataset, DatasetError

PREFIX = "tfds:"
# Evaluation resizes to S / CENTRE_CROP_FRACTION before the centre crop (224 -> 256).
CENTRE_CROP_FRACTION = 0.875
IMAGE, LABEL = "image", "label"  # the feature names of TFDS's image classification sets
# Examples used to estimate the per-channel mean and std (evenly spaced over the training split).
STATISTICS_SAMPLE = 1000


def _how_to_prepare(name: str) -> str:
    return (f"prepare it once with `tfds build {name} --file_format=array_record` (needs TensorFlow and the "
            f"network), and point config.dataset.data_dir at the folder it was built in if it is not TFDS's default")


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    squeeze = image.shape[-1] == 1
    pil = Image.fromarray(image[..., 0] if squeeze else image)
    out = np.asarray(pil.resize((width, height), Image.BILINEAR))
    return out[..., None] if squeeze else out


def random_resized_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A crop of 8-100% of the area with aspect ratio in [3/4, 4/3], scaled to size×size."""
    h, w = image.shape[:2]
    for _ in range(10):
        area = h * w * rng.uniform(0.08, 1.0)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        ch, cw = round(math.sqrt(area / aspect)), round(math.sqrt(area * aspect))
        if 0 < ch <= h and 0 < cw <= w:
            top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            return _resize(image[top : top + ch, left : left + cw], size, size)
    return centre_crop(image, size)  # no valid crop in 10 draws (extreme aspect ratio)


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to size / 0.875, then cut the central size×size square."""
    h, w = image.shape[:2]
    scale = size / CENTRE_CROP_FRACTION / min(h, w)
    rh, rw = max(size, round(h * scale)), max(size, round(w * scale))
    resized = _resize(image, rh, rw)
    top, left = (rh - size) // 2, (rw - size) // 2
    return resized[top : top + size, left : left + size]


class TfdsSplit:
    """One split of a TFDS dataset, decoded example by example for each batch."""

    def __init__(self, name: str, source, image_size: int):
        self.name, self._source, self._image_size = name, source, image_size
        first = source[0]
        if IMAGE not in first or LABEL not in first:
            raise DatasetError(f"tfds:{name} examples have the features {sorted(first)}; cnn needs "
                               f"'{IMAGE}' and '{LABEL}'")
        image = np.asarray(first[IMAGE])
        self.image_shape = (image_size, image_size, image.shape[-1]) if image_size else image.shape

    def __len__(self) -> int:
        return len(self._source)

    def _image(self, example: dict, rng: np.random.Generator | None) -> np.ndarray:
        image = np.asarray(example[IMAGE])
        if image.ndim == 2:
            image = image[..., None]
        if not self._image_size:
            if image.shape != self.image_shape:
                raise DatasetError(
                    f"tfds:{self.name} images vary in size ({image.shape} vs {self.image_shape}); set "
                    f"config.dataset.image_size to crop and resize them to one size (e.g. 224)")
            return image
        if rng is None:
            return centre_crop(image, self._image_size)
        return random_resized_crop(image, self._image_size, rng)

    def _load(self, i: int, seed: int | None) -> tuple[np.ndarray, int]:
        example = self._source[int(i)]
        rng = None if seed is None else np.random.default_rng(seed)
        return self._image(example, rng), example[LABEL]

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        # Examples are read and transformed in parallel (file reads and PIL release the GIL); each
        # draws from its own generator, seeded in order from `rng`, so threads cannot reorder draws.
        seeds = [None] * len(idx) if rng is None else rng.integers(0, 2**63, len(idx)).tolist()
        loaded = list(_decode_pool().map(self._load, idx, seeds))
        images = np.stack([image for image, _ in loaded]).astype(np.uint8)
        labels = np.asarray([label for _, label in loaded], np.int32)
        return {"image": images, "label": labels}


@functools.cache
def _decode_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(32, os.cpu_count() or 1), thread_name_prefix="tfds-decode")


def _channel_statistics(split: TfdsSplit) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std in [0, 1] over evenly spaced training examples, evaluation-transformed."""
    idx = np.unique(np.linspace(0, len(split) - 1, min(len(split), STATISTICS_SAMPLE)).round().astype(int))
    pixels = split.batch(idx)["image"].reshape(-1, split.image_shape[-1]).astype(np.float64) / 255.0
    std = np.maximum(pixels.std(axis=0), 1e-3)  # a constant channel must not divide by zero
    return tuple(float(m) for m in pixels.mean(axis=0)), tuple(float(s) for s in std)


def load_tfds(name: str, data_dir: str | None = None, *, image_size: int = 0, train_split: str = "train",
              eval_split: str = "test") -> Dataset:
    """Opens `train_split` and `eval_split` of TFDS dataset `name` for random access."""
    import tensorflow_datasets as tfds  # kept lazy: importing TFDS costs half a second

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise DatasetError(f"config.dataset.name: tfds:{name} is not a TFDS dataset ({str(e).splitlines()[0]}); "
                           f"see https://www.tensorflow.org/datasets/catalog/overview") from None
    splits = {}
    for role, split in (("train_split", train_split), ("eval_split", eval_split)):
        try:
            source = builder.as_data_source(split=split)
        except (NotImplementedError, FileNotFoundError, AssertionError) as e:
            raise DatasetError(f"tfds:{name} split '{split}' cannot be read at {builder.data_dir} "
                               f"({str(e).splitlines()[0]}); {_how_to_prepare(name)}") from None
        except ValueError as e:  # unknown split name
            raise DatasetError(f"config.dataset.{role}: {e}") from None
        splits[role] = TfdsSplit(name, source, image_size)
    label = builder.info.features[LABEL]
    mean, std = _channel_statistics(splits["train_split"])
    return Dataset(
        name=PREFIX + name,
        train=splits["train_split"],
        test=splits["eval_split"],
        num_classes=label.num_classes,
        class_names=tuple(label.names),
        mean=mean,
        std=std,
    )
