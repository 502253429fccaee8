"""`load`: the dataset a config names, from whichever source serves that name."""

from __future__ import annotations

from cnn.data.sources import IDX_SETS, Dataset, DatasetError, load_idx_dataset
from cnn.data.synthetic import PREFIX as SYNTHETIC_PREFIX
from cnn.data.synthetic import load_synthetic
from cnn.data.tfds_source import PREFIX as TFDS_PREFIX
from cnn.data.tfds_source import load_tfds
from cnn.suggest import unknown


def load(name: str, data_dir: str | None = None, *, image_size: int = 0, train_split: str = "train",
         eval_split: str = "test") -> Dataset:
    """`fashion_mnist` / `mnist` (IDX files), `tfds:NAME` (any TFDS dataset) or `synthetic[:HxWxC[:K]]`.

    `image_size`, `train_split` and `eval_split` apply to TFDS datasets.
    """
    if name.startswith(TFDS_PREFIX):
        return load_tfds(name[len(TFDS_PREFIX):], data_dir or None, image_size=image_size,
                         train_split=train_split, eval_split=eval_split)
    if name.split(":")[0] == SYNTHETIC_PREFIX:
        return load_synthetic(name)
    if name in IDX_SETS:
        return load_idx_dataset(name, data_dir)
    raise DatasetError(unknown("dataset", name, [*IDX_SETS, "synthetic", "tfds:NAME"]))
