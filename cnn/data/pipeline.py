"""Batches over in-memory splits.

The training order is a function of (seed, step) alone: the permutation of an epoch
is drawn from a generator seeded with (seed, epoch), so a run resumed at any step
sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cnn.data.sources import Split

Batch = dict[str, np.ndarray]


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    if batch_size > num_examples:
        raise ValueError(
            f"batch_size {batch_size} exceeds the {num_examples} training examples; lower batch_size"
        )
    return num_examples // batch_size


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def train_batches(split: Split, batch_size: int, seed: int, start_step: int = 0) -> Iterator[Batch]:
    """Yields shuffled full batches forever, starting at `start_step`; the last partial batch of an epoch is skipped."""
    per_epoch = steps_per_epoch(len(split), batch_size)
    step = start_step
    while True:
        epoch, first = divmod(step, per_epoch)
        order = epoch_permutation(len(split), seed, epoch)
        for i in range(first, per_epoch):
            idx = np.sort(order[i * batch_size : (i + 1) * batch_size])
            yield {"image": split.images[idx], "label": split.labels[idx]}
        step = (epoch + 1) * per_epoch


def eval_batches(split: Split, batch_size: int) -> Iterator[Batch]:
    """Yields the split in order; the last batch is padded to `batch_size`, its padding masked out."""
    n = len(split)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        pad = batch_size - (stop - start)
        mask = np.concatenate([np.ones(stop - start, np.float32), np.zeros(pad, np.float32)])
        image, label = split.images[start:stop], split.labels[start:stop]
        if pad:
            image = np.concatenate([image, np.zeros((pad, *image.shape[1:]), image.dtype)])
            label = np.concatenate([label, np.zeros(pad, label.dtype)])
        yield {"image": image, "label": label, "mask": mask}
