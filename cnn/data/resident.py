"""In-memory splits kept on the devices: placed there once, each batch gathered there by its indices.

A host `Split` costs every step a gather of the batch's rows in host memory and their copy to the
devices; over an epoch that is a second copy of the whole split crossing to the devices. A
`ResidentSplit` makes the copy once, when the run starts: per step only the batch's indices (a few
hundred integers) cross, and each device gathers its own rows of the global batch from its replica.
The batches are the host split's, element for element.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Sharding

from cnn.data.sources import Split


def _take(images: jax.Array, labels: jax.Array, idx: jax.Array) -> dict[str, jax.Array]:
    return {"image": images[idx], "label": labels[idx]}


class ResidentSplit:
    """`split` whole on every device of `whole` (a replicated sharding); `batch(idx)` returns the rows `idx`
    as global arrays laid out by `rows` (the batch sharding), as the train and eval steps take them."""

    def __init__(self, split: Split, whole: Sharding, rows: Sharding):
        self.images = jax.device_put(split.images, whole)
        self.labels = jax.device_put(split.labels, whole)
        self._take = jax.jit(_take, in_shardings=(whole, whole, rows), out_shardings=rows)

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def batch(self, idx: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, jax.Array]:
        """The examples at `idx` (the whole global batch: one process only); `rng` is unused, as `Split`'s."""
        # jit places the indices by their in_sharding: each device receives its rows' share.
        return self._take(self.images, self.labels, np.asarray(idx, np.int32))


def nbytes(split: Split) -> int:
    return split.images.nbytes + split.labels.nbytes
