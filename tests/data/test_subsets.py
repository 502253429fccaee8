"""Class subsets and few-shot splits, on small hand-built datasets and once on digits."""

import numpy as np
import pytest

from cnn.data import Dataset, DatasetError, Split, few_shot, load, select_classes
from cnn.data.synthetic import load_synthetic


def _dataset(n_train=60, n_test=30, num_classes=5, seed=0):
    """Each image holds its example's index, so every kept example can be traced to its original."""
    rng = np.random.default_rng(seed)

    def split(n, offset):
        images = (offset + np.arange(n, dtype=np.float32)).reshape(n, 1, 1, 1) * np.ones((1, 2, 2, 1), np.float32)
        return Split(images, rng.integers(0, num_classes, n).astype(np.int32))

    return Dataset(name="toy", train=split(n_train, 0), test=split(n_test, 1000), num_classes=num_classes,
                   class_names=tuple("abcdefghij"[:num_classes]), mean=(0.5,), std=(0.25,))


def _origin(split):
    return split.images[:, 0, 0, 0].astype(int)


@pytest.mark.parametrize("classes", [[3, 1], [0, 1, 2, 3, 4], [4]])
def test_select_classes_relabels_in_the_given_order(classes):
    ds = _dataset()
    sub = select_classes(ds, classes)
    assert sub.num_classes == len(classes) and sub.class_names == tuple(ds.class_names[c] for c in classes)
    assert sub.name == f"toy[{','.join(map(str, classes))}]"
    assert (sub.mean, sub.std) == (ds.mean, ds.std)
    for full, part, offset in ((ds.train, sub.train, 0), (ds.test, sub.test, 1000)):
        # Exactly the examples of those classes, in their original order, each new label mapping back.
        expected = np.flatnonzero(np.isin(full.labels, classes))
        np.testing.assert_array_equal(_origin(part) - offset, expected)
        np.testing.assert_array_equal(np.asarray(classes)[part.labels], full.labels[expected])
        np.testing.assert_array_equal(np.bincount(part.labels, minlength=len(classes)),
                                      np.bincount(full.labels, minlength=ds.num_classes)[classes])
        # Pixels are not renormalised.
        np.testing.assert_array_equal(part.images, full.images[expected])
        assert part.labels.dtype == np.int32


@pytest.mark.parametrize("classes, message", [
    ([], r"config.dataset.classes is empty.*classes 0\.\.4"),
    ([1, 5], r"config.dataset.classes \[1, 5\]: \[5\] out of range; toy has classes 0\.\.4"),
    ([-1], r"config.dataset.classes \[-1\]: \[-1\] out of range"),
    ([2, 3, 2], r"config.dataset.classes \[2, 3, 2\]: \[2\] listed more than once"),
    ([1.5], r"config.dataset.classes \[1.5\]: give integer class indices"),
])
def test_select_classes_errors_name_the_key_and_range(classes, message):
    with pytest.raises(DatasetError, match=message):
        select_classes(_dataset(), classes)


def test_few_shot_keeps_per_class_of_every_class_and_the_whole_test_split():
    ds = _dataset(n_train=200)
    shot = few_shot(ds, 4, seed=0)
    np.testing.assert_array_equal(np.bincount(shot.train.labels, minlength=5), [4] * 5)
    origin = _origin(shot.train)
    assert np.all(np.diff(origin) > 0)  # original order, no repeats
    np.testing.assert_array_equal(shot.train.labels, ds.train.labels[origin])
    assert shot.test is ds.test and shot.num_classes == 5 and shot.name == "toy:4-shot"
    assert (shot.mean, shot.std, shot.class_names) == (ds.mean, ds.std, ds.class_names)


def test_few_shot_is_the_seeds_permutation():
    ds = _dataset(n_train=200)
    # Independent restatement: walk rng.permutation and take each class's first 3 examples.
    order = np.random.default_rng(7).permutation(200)
    taken, expected = {c: 0 for c in range(5)}, []
    for i in order:
        c = int(ds.train.labels[i])
        if taken[c] < 3:
            taken[c] += 1
            expected.append(i)
    np.testing.assert_array_equal(_origin(few_shot(ds, 3, seed=7).train), sorted(expected))


def test_few_shot_is_deterministic_per_seed():
    ds = _dataset(n_train=200)
    a, b, c = (_origin(few_shot(ds, 5, seed=s).train) for s in (0, 0, 1))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # One seed's smaller set is part of its larger one.
    assert set(_origin(few_shot(ds, 2, seed=0).train)) <= set(a)


def test_few_shot_errors_name_the_key():
    ds = _dataset(n_train=200)
    for bad in (0, -3):
        with pytest.raises(DatasetError, match=f"config.dataset.train_per_class {bad}: give a positive number"):
            few_shot(ds, bad, seed=0)
    fewest = int(np.bincount(ds.train.labels).min())
    with pytest.raises(DatasetError, match=rf"config.dataset.train_per_class {fewest + 1}: too few training images.*"
                                           rf"has {fewest}.*at most {fewest}"):
        few_shot(ds, fewest + 1, seed=0)
    empty = Dataset(name="gap", train=Split(np.zeros((4, 1, 1, 1), np.float32), np.array([0, 0, 2, 2], np.int32)),
                    test=ds.test, num_classes=3, class_names=("x", "y", "z"), mean=(0.0,), std=(1.0,))
    with pytest.raises(DatasetError, match=r"'y' \(1\) has 0; drop those classes with config.dataset.classes"):
        few_shot(empty, 1, seed=0)


def test_subsets_need_an_in_memory_dataset():
    ds = load_synthetic("synthetic")
    with pytest.raises(DatasetError, match="config.dataset.classes: subsets need an in-memory dataset"):
        select_classes(ds, [0, 1])
    with pytest.raises(DatasetError, match="config.dataset.train_per_class: subsets need an in-memory dataset"):
        few_shot(ds, 1, seed=0)


def test_load_applies_classes_then_few_shot_on_digits():
    from sklearn.datasets import load_digits

    target = load_digits().target
    ds = load("digits", classes=[7, 2, 9], train_per_class=10, subset_seed=3)
    assert ds.name == "digits[7,2,9]:10-shot" and ds.class_names == ("7", "2", "9") and ds.num_classes == 3
    np.testing.assert_array_equal(np.bincount(ds.train.labels, minlength=3), [10, 10, 10])
    # The test split is every test image of those digits, relabelled by position in `classes`.
    expected = target[898:][np.isin(target[898:], [7, 2, 9])]
    np.testing.assert_array_equal(np.array([7, 2, 9])[ds.test.labels], expected)
    assert load("digits", classes=()).num_classes == 10  # empty means all classes
    with pytest.raises(DatasetError, match=r"config.dataset.classes \[3, 10\]: \[10\] out of range; "
                                           r"digits has classes 0\.\.9"):
        load("digits", classes=[3, 10])
