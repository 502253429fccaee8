"""Class subsets and few-shot training splits of in-memory datasets, for transfer-learning targets.

E.g. Fashion-MNIST classes 5..9 with 10 training images per class:
`few_shot(select_classes(ds, [5, 6, 7, 8, 9]), per_class=10, seed=0)`.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Sequence

import numpy as np

from cnn.data.sources import Dataset, DatasetError, Split

CLASSES_KEY = "config.dataset.classes"
PER_CLASS_KEY = "config.dataset.train_per_class"


def _in_memory(dataset: Dataset, key: str) -> tuple[Split, Split]:
    if not (isinstance(dataset.train, Split) and isinstance(dataset.test, Split)):
        raise DatasetError(f"{key}: subsets need an in-memory dataset (the IDX sets fashion_mnist and mnist, or "
                           f"digits); {dataset.name} is read on demand. Leave {key} at its default for it")
    return dataset.train, dataset.test


def _check_classes(dataset: Dataset, classes: Sequence[int]) -> list[int]:
    valid = f"{dataset.name} has classes 0..{dataset.num_classes - 1}"
    try:
        picked = [operator.index(c) for c in classes]
    except TypeError:
        raise DatasetError(f"{CLASSES_KEY} {list(classes)!r}: give integer class indices; {valid}") from None
    if not picked:
        raise DatasetError(f"{CLASSES_KEY} is empty: name at least one class; {valid}")
    bad = [c for c in picked if not 0 <= c < dataset.num_classes]
    if bad:
        raise DatasetError(f"{CLASSES_KEY} {picked}: {bad} out of range; {valid}")
    repeated = sorted({c for c in picked if picked.count(c) > 1})
    if repeated:
        raise DatasetError(f"{CLASSES_KEY} {picked}: {repeated} listed more than once; name each class once "
                           f"({valid})")
    return picked


def select_classes(dataset: Dataset, classes: Sequence[int]) -> Dataset:
    """The examples of original classes `classes` in both splits, class `classes[i]` relabelled i."""
    train, test = _in_memory(dataset, CLASSES_KEY)
    picked = _check_classes(dataset, classes)
    # Original label -> new label; -1 marks the classes dropped.
    relabel = np.full(dataset.num_classes, -1, np.int32)
    relabel[picked] = np.arange(len(picked), dtype=np.int32)

    def subset(split: Split) -> Split:
        new = relabel[split.labels]
        keep = new >= 0
        return Split(split.images[keep], new[keep])

    # mean/std stay those of the full set and the images are not renormalised: a source network
    # trained on the full set expects its normalisation, so the target shows it the same pixels.
    return dataclasses.replace(
        dataset,
        name=f"{dataset.name}[{','.join(map(str, picked))}]",
        train=subset(train),
        test=subset(test),
        num_classes=len(picked),
        class_names=tuple(dataset.class_names[c] for c in picked),
    )


def few_shot(dataset: Dataset, per_class: int, seed: int) -> Dataset:
    """The training split cut to `per_class` examples of every class, drawn with `seed`; test unchanged.

    One seeded permutation of the training split is drawn, and each class keeps its first
    `per_class` examples in that order, so for one seed a 5-shot set is part of the 10-shot set.
    The kept examples stay in their original order.
    """
    train, _ = _in_memory(dataset, PER_CLASS_KEY)
    if per_class < 1:
        raise DatasetError(f"{PER_CLASS_KEY} {per_class}: give a positive number of training images per class, "
                           f"or 0 for the whole training split")
    counts = np.bincount(train.labels, minlength=dataset.num_classes)
    short = {c: int(counts[c]) for c in range(dataset.num_classes) if counts[c] < per_class}
    if short:
        described = ", ".join(f"{dataset.class_names[c]!r} ({c}) has {n}" for c, n in short.items())
        fewest = int(counts.min())
        fix = f"lower {PER_CLASS_KEY} to at most {fewest}, or " if fewest else ""
        raise DatasetError(f"{PER_CLASS_KEY} {per_class}: too few training images in {dataset.name}: {described}; "
                           f"{fix}drop those classes with {CLASSES_KEY}")
    order = np.random.default_rng(seed).permutation(len(train))
    labels = train.labels[order]
    keep = np.concatenate([order[labels == c][:per_class] for c in range(dataset.num_classes)])
    keep.sort()
    return dataclasses.replace(
        dataset,
        name=f"{dataset.name}:{per_class}-shot",
        train=Split(train.images[keep], train.labels[keep]),
    )
