"""Batches over random-access splits (in memory, TFDS or synthetic).

The training order is a function of (seed, step) alone: the permutation of an epoch is
drawn from a generator seeded with (seed, epoch), and host-side random transforms of a batch
from one seeded with (seed, step), so a run resumed at any step sees exactly the batches an
uninterrupted run would have seen. Each process reads only its own rows of every global
batch (all of them when there is one process).
"""

from __future__ import annotations

from collections.abc import Iterator

import jax
import numpy as np

from cnn.data.sources import RandomAccessSplit

Batch = dict[str, np.ndarray]


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    if batch_size > num_examples:
        raise ValueError(
            f"batch_size {batch_size} exceeds the {num_examples} training examples; lower batch_size"
        )
    return num_examples // batch_size


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def process_rows(idx: np.ndarray) -> np.ndarray:
    """This process's contiguous share of a global batch's indices."""
    count = jax.process_count()
    if count == 1:
        return idx
    return idx.reshape(count, -1)[jax.process_index()]


def train_batches(split: RandomAccessSplit, batch_size: int, seed: int, start_step: int = 0) -> Iterator[Batch]:
    """Yields shuffled full batches forever, starting at `start_step`; the last partial batch of an epoch is skipped."""
    per_epoch = steps_per_epoch(len(split), batch_size)
    step = start_step
    while True:
        epoch, first = divmod(step, per_epoch)
        order = epoch_permutation(len(split), seed, epoch)
        for i in range(first, per_epoch):
            idx = np.sort(order[i * batch_size : (i + 1) * batch_size])
            rng = np.random.default_rng([seed, epoch * per_epoch + i, 1])
            yield split.batch(process_rows(idx), rng)
        step = (epoch + 1) * per_epoch


def eval_batches(split: RandomAccessSplit, batch_size: int) -> Iterator[Batch]:
    """Yields the split in order; the last batch is padded to `batch_size`, its padding masked out."""
    n = len(split)
    for start in range(0, n, batch_size):
        idx = np.arange(start, start + batch_size)
        mask = (idx < n).astype(np.float32)
        batch = split.batch(process_rows(np.minimum(idx, n - 1)))  # padding repeats the last example, masked out
        yield {**batch, "mask": process_rows(mask)}
