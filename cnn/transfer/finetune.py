"""Fine-tuning a trained source network on a target dataset: what `config.transfer` asks of a run.

`config.transfer`:
  source        a run's workdir (`launch.py transfer --source DIR` sets it) or a weights file
                (`cnn.transfer.sources`: .keras/.h5 Keras models, .pth/.pt/.npz torchvision state dicts)
  checkpoint    for a workdir, which of its checkpoints: best, latest or a step
  cut           the tap whose activation feeds the new head; every layer after it is dropped
  head_input    avg | flatten: how a feature-map cut becomes the head's input (`cnn.transfer.surgery`)
  strategy, freeze_until, fade_*, layer_decay: `cnn.transfer.strategies`

`config.model` names the source's model (a workdir's must match; imported weights are read into
it, with its overrides). The target images must have the source's channels; their size may
differ where the architecture allows (`dataset.image_size` resizes).
"""

from __future__ import annotations

import dataclasses

import jax
import ml_collections
import optax

from cnn.config import ConfigError
from cnn.data import Dataset
from cnn.train.state import TrainState
from cnn.transfer.groups import DROPPED, HEAD, layer_groups
from cnn.transfer.sources import Source, load_source
from cnn.transfer.strategies import fine_tuning_optimizer, group_multipliers, still_groups
from cnn.transfer.surgery import Transferred


@dataclasses.dataclass
class FineTuning:
    model: Transferred
    tx: optax.GradientTransformation
    source: Source

    def start(self, state: TrainState, strategy: str) -> TrainState:
        """`state` (freshly initialised) with the backbone's variables set to the source's, except from scratch."""
        if strategy == "scratch":
            return state
        return state.replace(params=_with_backbone(state.params, self.source.variables["params"], "params"),
                             batch_stats=_with_backbone(state.batch_stats,
                                                        self.source.variables.get("batch_stats", {}), "batch_stats"))


def _with_backbone(tree: dict, source: dict, collection: str) -> dict:
    if not source:
        return tree
    if jax.tree.structure(tree["backbone"]) != jax.tree.structure(source):
        raise ConfigError(f"the source's {collection} do not fit the backbone built from its config; was the source "
                          "run written by another version of its model?")
    return {**tree, "backbone": source}


def fine_tuning(config: ml_collections.ConfigDict, dataset: Dataset, base: optax.GradientTransformation,
                steps_per_epoch: int) -> FineTuning:
    """The transferred model and its optimizer for `config.transfer`, with the source run read from disk."""
    transfer = config.transfer
    source = load_source(transfer, config.model)
    if source.input_shape is not None and source.input_shape[-1] != dataset.image_shape[-1]:
        raise ConfigError(f"the target {dataset.name} has {dataset.image_shape[-1]}-channel images but the source "
                          f"({source.description}) takes {source.input_shape[-1]} channels")
    try:
        groups = layer_groups(source.model, source.variables, dataset.image_shape, transfer.cut)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    order = [*groups.order, HEAD]
    multipliers = group_multipliers(transfer, order, steps_per_epoch)
    still = set(still_groups(transfer, order))
    model = Transferred(source.model, transfer.cut, dataset.num_classes, transfer.get("head_input", "avg"),
                        _batch_norms_in(groups.labels, source.variables.get("batch_stats", {}), still | {DROPPED}))
    labels = {"backbone": groups.labels, "head": {"kernel": HEAD, "bias": HEAD}}
    return FineTuning(model, fine_tuning_optimizer(base, labels, multipliers), source)


def _batch_norms_in(labels: dict, batch_stats: dict, groups: set[str]) -> tuple[tuple[str, ...], ...]:
    """The paths of the BatchNorm layers (those with running statistics) whose parameters all belong to `groups`."""
    paths = {tuple(k.key for k in path[:-1]) for path, _ in jax.tree_util.tree_flatten_with_path(batch_stats)[0]}
    held = []
    for path in sorted(paths):
        node = labels
        for key in path:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        if node and set(jax.tree.leaves(node)) <= groups:
            held.append(path)
    return tuple(held)
