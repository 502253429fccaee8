"""A synthetic dataset for smoke tests and benchmarks: `dataset.name = "synthetic[:HxWxC[:CLASSES]]"`.

Each class is a fixed random pattern; each example is its class's pattern plus fresh noise,
so a model can learn it (a smoke test sees the loss fall) while nothing is read from disk.
Examples are generated on demand from their index, so any image size costs no memory.
"""

from __future__ import annotations

import re

import numpy as np

from cnn.data.sources import Dataset, DatasetError

PREFIX = "synthetic"
DEFAULT_SHAPE, DEFAULT_CLASSES = (28, 28, 1), 10
TRAIN_EXAMPLES, TEST_EXAMPLES = 4096, 512
_SPEC = re.compile(r"synthetic(?::(\d+)x(\d+)x(\d+)(?::(\d+))?)?")


class SyntheticSplit:
    def __init__(self, num_examples: int, image_shape: tuple[int, int, int], num_classes: int, stream: int):
        self.image_shape, self.num_classes = image_shape, num_classes
        self._num_examples, self._stream = num_examples, stream
        patterns = np.random.default_rng([num_classes, *image_shape]).normal(size=(num_classes, *image_shape))
        self._patterns = patterns.astype(np.float32)

    def __len__(self) -> int:
        return self._num_examples

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        labels = (np.asarray(idx) % self.num_classes).astype(np.int32)
        noise = np.stack([np.random.default_rng([self._stream, int(i)]).normal(size=self.image_shape)
                          for i in idx]).astype(np.float32)
        return {"image": (self._patterns[labels] + noise) / np.float32(np.sqrt(2.0)), "label": labels}


def load_synthetic(name: str) -> Dataset:
    """Parses `synthetic`, `synthetic:32x32x3` or `synthetic:224x224x3:1000`."""
    match = _SPEC.fullmatch(name)
    if not match:
        raise DatasetError(f"config.dataset.name '{name}': write synthetic, synthetic:HxWxC or "
                           f"synthetic:HxWxC:CLASSES (e.g. synthetic:32x32x3:10)")
    h, w, c, k = match.groups()
    shape = (int(h), int(w), int(c)) if h else DEFAULT_SHAPE
    classes = int(k) if k else DEFAULT_CLASSES
    if min(shape) < 1 or classes < 2:
        raise DatasetError(f"config.dataset.name '{name}': sizes must be positive and classes at least 2")
    return Dataset(
        name=name,
        train=SyntheticSplit(TRAIN_EXAMPLES, shape, classes, stream=0),
        test=SyntheticSplit(TEST_EXAMPLES, shape, classes, stream=1),
        num_classes=classes,
        class_names=tuple(str(i) for i in range(classes)),
        mean=(0.0,) * shape[-1],
        std=(1.0,) * shape[-1],
    )
