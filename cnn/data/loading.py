"""`load`: the dataset a config names, from whichever source serves that name."""

from __future__ import annotations

from collections.abc import Sequence

from cnn.data.digits import NAME as DIGITS
from cnn.data.digits import load_digits_dataset
from cnn.data.sources import IDX_SETS, Dataset, DatasetError, load_idx_dataset
from cnn.data.subsets import few_shot, select_classes
from cnn.data.synthetic import PREFIX as SYNTHETIC_PREFIX
from cnn.data.synthetic import load_synthetic
from cnn.data.tfds_source import PREFIX as TFDS_PREFIX
from cnn.data.tfds_source import load_tfds
from cnn.suggest import unknown


def load(name: str, data_dir: str | None = None, *, image_size: int = 0, train_split: str = "train",
         eval_split: str = "test", classes: Sequence[int] = (), train_per_class: int = 0,
         subset_seed: int = 0) -> Dataset:
    """`fashion_mnist` / `mnist` (IDX files), `digits` (scikit-learn's 8×8 digits), `tfds:NAME` (any
    TFDS dataset) or `synthetic[:HxWxC[:K]]`.

    `image_size` applies to TFDS datasets and to digits (0: native 8×8, S >= 8: upsampled to S×S);
    `train_split` and `eval_split` apply to TFDS datasets. For in-memory sets (IDX, digits),
    non-empty `classes` keeps only those original classes, relabelled 0..len(classes)-1 in that
    order (`select_classes`), then `train_per_class` > 0 cuts the training split to that many
    images per class, drawn with `subset_seed` (`few_shot`); the test split stays whole.
    """
    dataset = _load_source(name, data_dir, image_size=image_size, train_split=train_split, eval_split=eval_split)
    if classes is not None and len(classes):
        dataset = select_classes(dataset, classes)
    if train_per_class:
        dataset = few_shot(dataset, train_per_class, subset_seed)
    return dataset


def _load_source(name: str, data_dir: str | None, *, image_size: int, train_split: str,
                 eval_split: str) -> Dataset:
    if name.startswith(TFDS_PREFIX):
        return load_tfds(name[len(TFDS_PREFIX):], data_dir or None, image_size=image_size,
                         train_split=train_split, eval_split=eval_split)
    if name.split(":")[0] == SYNTHETIC_PREFIX:
        return load_synthetic(name)
    if name == DIGITS:
        return load_digits_dataset(image_size)
    if name in IDX_SETS:
        return load_idx_dataset(name, data_dir)
    raise DatasetError(unknown("dataset", name, [*IDX_SETS, DIGITS, "synthetic", "tfds:NAME"]))
