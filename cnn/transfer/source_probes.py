"""The notes' transfer table for any source run: a linear probe on every layer, trained weights against random.

Each tap of the source network (feature maps global-average-pooled) feeds a softmax regression and a
linear SVM fitted on the target's training images and scored on its test images, once with the source's
trained weights and once with the same network freshly initialised: the difference is what training on
the source taught each layer about the target.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import ml_collections
import numpy as np

from cnn import data
from cnn.train.compiled import input_normalizer
from cnn.train.run import load_dataset
from cnn.transfer.probes import ProbeResult, linear_probes
from cnn.transfer.sources import load_source, random_variables


@dataclasses.dataclass
class SourceProbes:
    source: str
    target: str
    trained: list[ProbeResult]
    random: list[ProbeResult]

    def rows(self) -> list[dict]:
        """One JSON-ready dict per tap: accuracies of both probes on trained and on random weights."""
        return [{"tap": t.tap, "features": t.dim, "softmax_top1": t.softmax_top1, "svm_top1": t.svm_top1,
                 "random_softmax_top1": r.softmax_top1, "random_svm_top1": r.svm_top1}
                for t, r in zip(self.trained, self.random)]

    def markdown(self) -> str:
        lines = [f"Linear probes of {self.source}'s layers on {self.target} (test top-1, %)", "",
                 "| layer | features | softmax, trained | SVM, trained | softmax, random init | SVM, random init |",
                 "| --- | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {row['tap']} | {row['features']} | {100 * row['softmax_top1']:.1f} | {100 * row['svm_top1']:.1f} "
                  f"| {100 * row['random_softmax_top1']:.1f} | {100 * row['random_svm_top1']:.1f} |"
                  for row in self.rows()]
        return "\n".join(lines)


def _all_images(dataset: data.Dataset, split: data.Split) -> tuple[np.ndarray, np.ndarray]:
    batch = next(data.eval_batches(split, len(split)))
    return np.asarray(input_normalizer(dataset)(jnp.asarray(batch["image"]))), np.asarray(batch["label"])


def probe_source(config: ml_collections.ConfigDict, random_seed: int = 0) -> SourceProbes:
    """Probes on every tap of the source `config.transfer` names (`cnn.transfer.sources`) for `config.dataset`."""
    source = load_source(config.transfer, config.model)
    target = load_dataset(config.dataset)
    train, test = _all_images(target, target.train), _all_images(target, target.test)

    def probes(variables) -> list[ProbeResult]:
        return linear_probes(source.model, variables, *train, *test, target.num_classes)

    return SourceProbes(source.description, target.name, probes(source.variables),
                        probes(random_variables(source, target.image_shape, random_seed)))
