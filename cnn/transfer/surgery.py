"""A source network cut at a named tap, with a new linear head for the target's classes.

`Transferred(backbone, cut, num_classes)` runs `backbone` (any zoo model, with the source's class
count) and feeds the activation of tap `cut` to a new Dense layer. The layers after the cut are
dropped: nothing the model returns depends on them, so XLA removes their computation from the
compiled steps. Their parameters stay in the variables (a flax module's variables are fixed by its
code) and are never updated.

A feature-map cut (N, H, W, C) becomes a vector by global average pooling (`head_input="avg"`,
any input size, C features) or by flattening (`"flatten"`, H·W·C features: what the original
network's next fully connected layer saw, as for LeNet-5's S4 → C5).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn.layers.norm import BatchNorm

HEAD_INPUTS = ("avg", "flatten")
# Extra classifiers of the source (GoogLeNet's): trained for the source's classes, never the target's.
_SOURCE_ONLY_TAPS = ("aux_logits",)


def taps_before(taps: dict, cut: str) -> dict:
    """The taps computed up to and including `cut`, in the order the model computed them."""
    kept = {}
    for name, value in taps.items():
        if name not in _SOURCE_ONLY_TAPS:
            kept[name] = value
        if name == cut:
            return kept
    raise ValueError(f"the source model has no tap {cut!r} to cut at; its taps are "
                     f"{[n for n in taps if n not in _SOURCE_ONLY_TAPS]} (config.transfer.cut)")


def head_features(activation: jax.Array, head_input: str) -> jax.Array:
    """(N, D) features from a tap: feature maps pooled or flattened, vectors as they are."""
    if head_input not in HEAD_INPUTS:
        raise ValueError(f"config.transfer.head_input {head_input!r}: use one of {', '.join(HEAD_INPUTS)}")
    if activation.ndim == 2:
        return activation
    if head_input == "avg":
        return jnp.mean(activation, axis=tuple(range(1, activation.ndim - 1)))
    return activation.reshape(activation.shape[0], -1)


class Transferred(nn.Module):
    """`backbone` up to tap `cut`, then a new Dense head of `num_classes` (parameters under "head").

    `still_batch_norms`: paths (inside the backbone) of BatchNorm layers that keep normalising with
    their running statistics in training and never update them: those of frozen and dropped layers,
    so a frozen layer computes exactly what it did in the source network.
    """

    backbone: nn.Module
    cut: str
    num_classes: int
    head_input: str = "avg"
    still_batch_norms: Sequence[tuple[str, ...]] = ()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        still = {("backbone", *path) for path in self.still_batch_norms}

        def hold_statistics(next_fun, args, kwargs, context):
            module = context.module
            if context.method_name == "__call__" and isinstance(module, BatchNorm) and module.path in still:
                return next_fun(*args[:1], **{**kwargs, "train": False})  # x given by position or by name
            return next_fun(*args, **kwargs)

        with nn.intercept_methods(hold_statistics):
            _, source_taps = self.backbone(x, train=train)
        taps = taps_before(source_taps, self.cut)
        features = taps["features"] = head_features(taps[self.cut], self.head_input)
        return nn.Dense(self.num_classes, name="head")(features), taps
