"""Weights from torchvision state dicts into the zoo's variables: `import_torchvision(state_dict, name)`.

A state dict is a flat mapping "features.0.weight" → tensor (torch.Tensor or numpy; torch itself is
never imported here). Its keys are grouped by module prefix, in the dict's order, and each group is
classified: a batch norm holds running_mean (weight, bias, running_mean, running_var → our scale,
bias, mean, var; num_batches_tracked is dropped), else a 2-D weight is a Linear (out, in) → our Dense
kernel (in, out), and a weight of rank ≥ 3 a convolution (O, I/g, *k) → our Conv kernel (*k, I/g, O),
grouped and depthwise ones included. Anything else is refused by name.

Our side is one trace of `model.init` (which builds every layer, training-only heads included):
each Conv, Dense and BatchNorm call is fenced by marker operations, so the traced program says which
layers feed which (a layer's predecessors are the nearest layers its input derives from, through any
parameter-free operations). Their layers are then paired in the state dict's order, the i-th of theirs
with one of our layers whose predecessors are all paired already and whose kind and shapes equal
theirs. torchvision registers modules in a topological order of the network, and mostly in the order
its forward runs them, but in three families that order is not our execution order: GoogLeNet registers
aux1 and aux2 after inception5b (ours run them after 4a and 4d), ResNet registers a block's downsample
after conv3/bn3 (ours run the projection first, the order Keras lists it in) and our Inception v3 runs
each module's branches in Keras's order (deepest first). Following the data flow handles all three.

When several of ours fit (same-shaped parallel layers: ResNet's conv3 and projection in a block whose
width equals its input's, the 1×1 convolutions that open sibling Inception branches), the tie goes to
the one whose latest predecessor was paired most recently (torchvision registers a module's layers
together, chain by chain), then to the one whose path shares most name tokens with their key (Jaccard
index: "Mixed_5b/branch1x1/conv" against "Mixed_5b.branch1x1.conv"; Inception v3 needs it), then to
the first in our execution order. A choice that leaves a later layer of theirs without a fit is
revisited (depth-first search: ResNeXt-101 32×8d's first conv1 and projection are both 1×1 64 → 256
and read the same input, and only conv2 tells which was which). A wrong choice between truly
interchangeable layers cannot be seen from shapes; the logits comparisons in the tests prove the
pairing of every torchvision model of the zoo.

A Linear fed by a flattened feature map (AlexNet's and VGG's classifier[0], GoogLeNet's aux fc1) reads
it channel-major, (C, H, W) in NCHW, where our Dense reads the NHWC map's (H, W, C) order. The trace
finds such Dense layers generically, as those whose input is the reshape of an (N, *spatial, C) array,
and their kernel rows are permuted: ours[s·C + c] = theirs[c·S + s] over the S spatial positions.

Batch norm epsilon is not in a state dict: the model must be built with torchvision's, which is our
default for every torchvision model of the zoo (1e-5; 1e-3 for GoogLeNet, Inception v3, MobileNetV3 and
EfficientNet-B5…B7, as in torchvision). For a model built with another ε pass the override, e.g.
`import_torchvision(sd, "resnet50", bn_epsilon=1e-3)`. Other fields that do not change any shape
(dropout, padding style) are likewise the caller's to match, and so is the input: torchvision's
GoogLeNet and Inception v3 re-standardise it when built with transform_input=True (their ImageNet
weights), which ours do not model.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import numpy as np
from jax.extend.core import Literal, Primitive

from cnn.layers.conv import Conv
from cnn.layers.norm import BatchNorm
from cnn.layers.padding import BorderWarning
from cnn.models.registry import create, spec

# Fences each parameterised layer in the traced program: side "in" on its input, "out" on its output.
_FENCE = Primitive("cnn_import_layer_fence")
_FENCE.def_abstract_eval(lambda x, **_: x)

_BN_KEYS = {"weight": "scale", "bias": "bias", "running_mean": "mean", "running_var": "var"}


@dataclasses.dataclass
class _Ours:
    """One of our layers: its variables' shapes and where its input comes from."""

    path: tuple[str, ...]
    kind: str  # "conv", "dense" or "bn"
    shapes: dict[str, tuple[int, ...]]  # our variable name -> shape
    preds: frozenset[int] = frozenset()  # indices of the nearest layers its input derives from
    flattened: tuple[int, int] | None = None  # (S, C): a Dense reading an (N, *spatial, C) map flattened

    @property
    def name(self) -> str:
        return "/".join(self.path)


@dataclasses.dataclass
class _Theirs:
    """One module of the state dict, its arrays already in our layout and under our variable names."""

    key: str
    kind: str
    arrays: dict[str, np.ndarray]

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: self.arrays[k].shape for k in sorted(self.arrays)}  # sorted, as ours are


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value, np.float32)


def _classify(key: str, group: dict[str, np.ndarray]) -> _Theirs:
    """A state dict module as a conv, linear or batch norm layer in our layout; anything else raises."""
    names = set(group) - {"num_batches_tracked"}
    if "running_mean" in names and names <= set(_BN_KEYS) and "running_var" in names:
        return _Theirs(key, "bn", {_BN_KEYS[k]: group[k] for k in _BN_KEYS if k in names})
    weight = group.get("weight")
    if names <= {"weight", "bias"} and weight is not None and weight.ndim >= 2:
        bias = {"bias": group["bias"]} if "bias" in names else {}
        if weight.ndim == 2:
            return _Theirs(key, "dense", {"kernel": weight.T, **bias})
        # (O, I/g, *k) -> (*k, I/g, O)
        return _Theirs(key, "conv", {"kernel": np.transpose(weight, (*range(2, weight.ndim), 1, 0)), **bias})
    shapes = {k: tuple(v.shape) for k, v in group.items()}
    raise ValueError(f"state dict module {key!r} holds {shapes}: not a convolution, linear or batch norm layer, "
                     "which are all cnn can import")


def _their_layers(state_dict: Mapping[str, Any]) -> list[_Theirs]:
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state_dict.items():
        prefix, _, leaf = key.rpartition(".")
        groups.setdefault(prefix, {})[leaf] = _numpy(value)
    return [_classify(key, group) for key, group in groups.items()]


def _trace(model: nn.Module, x: jax.ShapeDtypeStruct) -> tuple[list[_Ours], Any]:
    """Our layers in execution order with their predecessors, and the variables' shapes, from `model.init`."""
    order: list[tuple[tuple[str, ...], str]] = []

    def fence(next_fun, args, kwargs, context):
        module = context.module
        if context.method_name != "__call__" or not isinstance(module, (Conv, nn.Dense, BatchNorm)):
            return next_fun(*args, **kwargs)
        index = len(order)
        order.append((module.path, "conv" if isinstance(module, Conv) else
                      "dense" if isinstance(module, nn.Dense) else "bn"))
        y = next_fun(_FENCE.bind(args[0], index=index, side="in"), *args[1:], **kwargs)
        return _FENCE.bind(y, index=index, side="out")

    with nn.intercept_methods(fence), warnings.catch_warnings():
        # The trace only reads shapes, at the registered input size: whether that size leaves border
        # pixels unread is no concern of the import.
        warnings.simplefilter("ignore", BorderWarning)
        closed, shapes = jax.make_jaxpr(model.init, return_shape=True)(jax.random.key(0), x)

    sources: dict[Any, frozenset[int]] = {}  # traced value -> nearest layers it derives from
    producers: dict[Any, Any] = {}
    preds: dict[int, frozenset[int]] = {}
    flattened: dict[int, tuple[int, int] | None] = {}
    for eqn in closed.jaxpr.eqns:
        origin = frozenset().union(*(sources.get(v, frozenset()) for v in eqn.invars if not isinstance(v, Literal)))
        if eqn.primitive is _FENCE:
            index = eqn.params["index"]
            if eqn.params["side"] == "in":
                preds[index] = origin
                flattened[index] = _flattened(producers.get(eqn.invars[0]))
            else:
                origin = frozenset({index})
        for v in eqn.outvars:
            sources[v] = origin
            producers[v] = eqn
    if len(preds) != len(order):
        raise ValueError(f"{type(model).__name__}: {len(order) - len(preds)} of its layers run inside a nested "
                         "transformation (jit, remat, scan) whose data flow the importer cannot follow")

    layers = []
    for index, (path, kind) in enumerate(order):
        shapes_here = {}
        for collection in ("params", "batch_stats"):
            tree = shapes.get(collection, {})
            for part in path:
                tree = tree.get(part, {})
            shapes_here.update({k: tuple(v.shape) for k, v in tree.items() if not isinstance(v, Mapping)})
        layers.append(_Ours(path, kind, shapes_here, preds[index], flattened[index] if kind == "dense" else None))
    return layers, shapes


def _flattened(eqn) -> tuple[int, int] | None:
    """(S, C) if `eqn` flattens an (N, *spatial, C) array with S = ∏ spatial > 1 positions, else None."""
    if eqn is None or eqn.primitive.name != "reshape":
        return None
    shape = eqn.invars[0].aval.shape
    positions = math.prod(shape[1:-1])  # 1 for an (N, C) input
    return (positions, shape[-1]) if positions > 1 else None


def _tokens(name: str) -> Counter[str]:
    return Counter(re.findall(r"[a-z]+|\d+", name.lower()))


def _similarity(ours: _Ours, theirs: _Theirs) -> float:
    """Jaccard index of the names' multisets of letter and digit runs ("branch7x7x3_1" has three 7s)."""
    a, b = _tokens(ours.name), _tokens(theirs.key)
    return (a & b).total() / max(1, (a | b).total())


def _describe(layers: list, label: Callable[[Any], str]) -> str:
    shown = ", ".join(label(layer) for layer in layers[:8])
    return shown + (f" and {len(layers) - 8} more" if len(layers) > 8 else "")


class _Search:
    """Pairing state: which of our layers are paired (at which step of theirs) and which can run next."""

    def __init__(self, ours: list[_Ours]):
        self.ours = ours
        self.successors: list[list[int]] = [[] for _ in ours]
        for index, layer in enumerate(ours):
            for p in layer.preds:
                self.successors[p].append(index)
        self.waiting = [len(layer.preds) for layer in ours]
        self.ready = {i for i, w in enumerate(self.waiting) if w == 0}
        self.step_of: dict[int, int] = {}

    def rank(self, i: int, theirs: _Theirs) -> tuple:
        latest = max((self.step_of[p] for p in self.ours[i].preds), default=-1)
        return latest, _similarity(self.ours[i], theirs), -i

    def candidates(self, theirs: _Theirs) -> list[int]:
        """Our ready layers that can hold `theirs`, best first."""
        fits = [i for i in self.ready if self.ours[i].kind == theirs.kind and self.ours[i].shapes == theirs.shapes]
        return sorted(fits, key=lambda i: self.rank(i, theirs), reverse=True)

    def pair(self, i: int, step: int) -> None:
        self.ready.remove(i)
        self.step_of[i] = step
        for s in self.successors[i]:
            self.waiting[s] -= 1
            if self.waiting[s] == 0:
                self.ready.add(s)

    def unpair(self, i: int) -> None:
        for s in self.successors[i]:
            self.ready.discard(s)
            self.waiting[s] += 1
        del self.step_of[i]
        self.ready.add(i)

    def mismatch(self, name: str, theirs: list[_Theirs], step: int) -> str:
        """Why their layer `step` fits none of ours, with the layers unpaired on both sides."""
        t = theirs[step]
        left = [layer for i, layer in enumerate(self.ours) if i not in self.step_of]
        unpaired = (f"unpaired: {len(left)} of ours ({_describe(left, lambda o: o.name)}), "
                    f"{len(theirs) - step} of theirs ({_describe(theirs[step:], lambda u: u.key)})")
        if not self.ready:
            return (f"{name}: their {t.kind} {t.key!r} {t.shapes} has no counterpart: every layer of ours that can "
                    f"run is paired; {unpaired}")
        expected = self.ours[max(self.ready, key=lambda i: self.rank(i, t))]
        return (f"{name}: their {t.kind} {t.key!r} {t.shapes} (state dict layer {step + 1} of {len(theirs)}) does "
                f"not fit our next {expected.kind} {expected.name} {expected.shapes}; {unpaired}")


# Pairings tried per layer of theirs before a search that keeps backtracking gives up.
_BUDGET = 20


def _pair(name: str, ours: list[_Ours], theirs: list[_Theirs]) -> list[int]:
    """For each of their layers in order, the index of our layer it fills (see the module docstring).

    Depth-first: each of their layers takes the best-ranked fitting layer of ours, and when a later layer of
    theirs fits none, the latest choice that had alternatives is revisited. Failing, the error describes the
    furthest layer of theirs that was reached.
    """
    search = _Search(ours)
    options: list[list[int]] = []  # for each step reached, the candidates not tried yet
    pairing: list[int] = []
    furthest, failure = -1, ""
    budget = _BUDGET * len(theirs)
    while len(pairing) < len(theirs):
        step = len(pairing)
        if len(options) == step:
            options.append(search.candidates(theirs[step]))
            if not options[step] and step > furthest:
                furthest, failure = step, search.mismatch(name, theirs, step)
        if options[step] and budget:
            budget -= 1
            pairing.append(options[step].pop(0))
            search.pair(pairing[-1], step)
        else:
            options.pop()
            if not pairing or not budget:
                raise ValueError(failure)
            search.unpair(pairing.pop())
    left = [layer for i, layer in enumerate(ours) if i not in search.step_of]
    if left:
        raise ValueError(f"{name}: our layers with no counterpart in the state dict: "
                         f"{_describe(left, lambda o: f'{o.kind} {o.name} {o.shapes}')}")
    return pairing


def _unflatten(kernel: np.ndarray, positions: int, channels: int) -> np.ndarray:
    """A Dense kernel (S·C, O) with rows in torch's (c, s) order put in our (s, c) order.

    Permuted as torch's (O, C, S) weight, whose rows are contiguous: a 100M-entry VGG fc6 in a second.
    """
    weight = kernel.T
    return weight.reshape(-1, channels, positions).transpose(0, 2, 1).reshape(weight.shape).T


def _output_width(theirs: list, name: str) -> int:
    weighted = [t for t in theirs if t.kind != "bn"]
    if not weighted:
        raise ValueError(f"{name}: the state dict has no convolution or linear layer to take num_classes from")
    return weighted[-1].arrays["kernel"].shape[-1]


def state_dict_classes(state_dict: Mapping[str, Any], name: str) -> int:
    """The class count of a torchvision state dict: the output width of its last convolution or linear layer."""
    return _output_width(_their_layers(state_dict), name)


def import_torchvision(state_dict: Mapping[str, Any], name: str, *, num_classes: int | None = None,
                       **overrides) -> dict:
    """Variables for `cnn.models.create(name, num_classes=num_classes, **overrides)` holding a torchvision
    model's `state_dict()` (values torch tensors or numpy arrays).

    `num_classes` defaults to the output width of the state dict's last convolution or linear layer (the
    classifier in every torchvision model). Raises ValueError naming the first of their layers that fits
    none of ours (their key and shapes against our next layer's path and shapes), with the unpaired layers
    on both sides, or our layers left without a counterpart. Batch norm ε is not in the state dict: pass
    the model's override where torchvision's differs from our default (module docstring).
    """
    theirs = _their_layers(state_dict)
    if num_classes is None:
        num_classes = _output_width(theirs, name)
    model = create(name, num_classes=num_classes, **overrides)
    ours, shapes = _trace(model, jax.ShapeDtypeStruct((1, *spec(name).input_shape), np.float32))

    filled: dict[tuple[str, ...], np.ndarray] = {}
    for index, t in zip(_pair(name, ours, theirs), theirs):
        layer = ours[index]
        for key, value in t.arrays.items():
            if key == "kernel" and layer.flattened:
                value = _unflatten(value, *layer.flattened)
            collection = "batch_stats" if key in ("mean", "var") else "params"
            filled[(collection, *layer.path, key)] = value

    def fill(path, leaf):
        key = tuple(p.key for p in path)
        if key not in filled:
            raise ValueError(f"{name}: variable {'/'.join(key)} {leaf.shape} belongs to no convolution, dense or "
                             "batch norm layer, so no state dict entry can fill it")
        return filled[key]

    return jax.tree_util.tree_map_with_path(fill, shapes)
