"""Data sources and batch pipelines."""

from cnn.data.idx import IdxFormatError, read_idx, write_idx
from cnn.data.pipeline import eval_batches, steps_per_epoch, train_batches
from cnn.data.loading import load
from cnn.data.sources import Dataset, DatasetError, Split, locate
from cnn.data.subsets import few_shot, select_classes

__all__ = [
    "Dataset", "DatasetError", "IdxFormatError", "Split", "eval_batches", "few_shot", "load", "locate",
    "read_idx", "select_classes", "steps_per_epoch", "train_batches", "write_idx",
]
