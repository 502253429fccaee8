"""Data sources and batch pipelines."""

from cnn.data.idx import IdxFormatError, read_idx, write_idx
from cnn.data.pipeline import eval_batches, steps_per_epoch, train_batches
from cnn.data.loading import load
from cnn.data.sources import Dataset, DatasetError, Split, locate

__all__ = [
    "Dataset", "DatasetError", "IdxFormatError", "Split", "eval_batches", "load", "locate",
    "read_idx", "steps_per_epoch", "train_batches", "write_idx",
]
