"""Receptive fields read off a model's own traced program, by the recurrences of Araujo et al. (Distill 2019).

The model runs once under `jax.make_jaxpr`, with every module's output and every tap marked by an
identity primitive. An abstract interpreter then walks the program and carries, for each traced array,
the input region that one of its units depends on: per input spatial axis, which array axes index it
and with what step (the effective stride), the extent of unit 0's region (the size r) and where it
starts (minus the effective padding). Convolutions, pooling windows, padding and slicing update these
by the recurrences r ← r + d(k − 1)·S, P ← P + p_lo·S, S ← s·S (a transposed convolution's input
dilation divides S); reductions over a spatial axis (global pooling, a flatten into a dense layer)
grow the region to everything the units of that axis see. Where paths meet (residual sums, Inception
and dense concatenations, NASNet cells), the region is the union over paths, and paths whose regions
are not centred on the same input point are reported as misaligned rather than averaged away. A
squeeze-excitation gate reaches every unit from the whole image; that is kept apart from the local
region as `global_context`, so the local field stays readable.

Nothing here knows any architecture: the numbers come from the lax operations the model executes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.extend.core import Literal, Primitive

from cnn.layers import fast_paths
from cnn.models.registry import create, spec

_MARK = Primitive("cnn_receptive_field_mark")
_MARK.def_impl(lambda x, **_: x)
_MARK.def_abstract_eval(lambda x, **_: x)


@dataclasses.dataclass(frozen=True)
class Field:
    """The input region one unit of a layer depends on, per input spatial axis (height, width, ...).

    Unit u along an axis sees input pixels u·stride − padding … u·stride − padding + size − 1 (pixels
    outside the image are padding). A layer past global pooling or flattening (`spatial` False) has one
    region for all its units: the part of the input it reads, with stride set to the input's extent.
    """

    size: tuple[float, ...]
    stride: tuple[float, ...]
    padding: tuple[float, ...]
    spatial: bool  # the layer still has the input's spatial axes
    aligned: bool  # every path into it centres a unit's region on the same input point
    global_context: bool  # some path also reaches every unit from the whole input (a squeeze-excitation gate)
    depth: int = 0  # spatial windows (convolutions or pools wider than 1 or strided) on the longest input path

    def center(self, index: Sequence[int]) -> tuple[float, ...]:
        """Input coordinates of the centre of unit `index`'s region."""
        return tuple(u * s - p + (r - 1) / 2 for u, s, p, r in zip(index, self.stride, self.padding, self.size))

    def bounds(self, index: Sequence[int]) -> tuple[tuple[float, float], ...]:
        """(first, last) input pixel of unit `index`'s region per axis; may reach past the image."""
        return tuple((u * s - p, u * s - p + r - 1) for u, s, p, r in zip(index, self.stride, self.padding, self.size))


@dataclasses.dataclass(frozen=True)
class Misalignment:
    """Paths meeting at `where` (the traced program's module scope) with different region centres."""

    where: str
    axis: int
    centers: tuple[float, ...]  # the centre of unit 0's region along `axis`, one per distinct path


@dataclasses.dataclass(frozen=True)
class FieldMap:
    """Receptive fields of a model on one input shape, in execution order."""

    input_shape: tuple[int, ...]  # (height, width, ..., channels)
    layers: dict[str, Field]  # module path ("block3/conv2") -> its output's field
    shapes: dict[str, tuple[int, ...]]  # module path or "tap:NAME" -> output shape without the batch axis
    # (a module returning several arrays is described by the first)
    taps: dict[str, Field]  # the model's taps ("stage5", "features", ...)
    misalignments: tuple[Misalignment, ...]
    untracked: tuple[str, ...]  # primitives with no field rule: their outputs were given the whole input

    def field(self, layer: str) -> Field:
        """The field of module `layer` ("block3/conv2") or tap "tap:NAME"."""
        found = self.taps.get(layer[4:]) if layer.startswith("tap:") else self.layers.get(layer)
        if found is None:
            raise ValueError(f"no module or tap {layer!r}; modules are {', '.join(list(self.layers)[:8])}, ... "
                             f"and taps {', '.join(f'tap:{t}' for t in self.taps)}")
        return found

    def final(self) -> tuple[str, Field]:
        """The final feature layer: the largest field that still has spatial axes ("tap:NAME" for a tap)."""
        candidates = [(name, f) for name, f in self.layers.items() if f.spatial]
        candidates += [(f"tap:{name}", f) for name, f in self.taps.items() if f.spatial]
        if not candidates:
            raise ValueError("no layer of this model keeps the input's spatial axes")
        best = candidates[0]
        for item in candidates:  # ties go to the later layer: a block's output over its last convolution
            if math.prod(item[1].size) >= math.prod(best[1].size):
                best = item
        return best


# ---- the abstract values ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Dim:
    """One input spatial axis as seen by a traced array."""

    axes: tuple[tuple[int, Fraction], ...]  # (array axis, input pixels per index step)
    size: Fraction  # extent of unit 0's region
    padding: Fraction  # unit 0's region starts at -padding
    context: tuple[Fraction, Fraction] | None = None  # an interval every unit also sees, through a global path

    def interval(self) -> tuple[Fraction, Fraction]:
        return -self.padding, self.size - 1 - self.padding

    def center(self) -> Fraction:
        return (self.size - 1) / 2 - self.padding


@dataclasses.dataclass(frozen=True)
class _Value:
    dims: tuple[_Dim, ...]
    aligned: bool = True
    depth: int = 0

    def replace_dims(self, fn: Callable[[_Dim], _Dim]) -> _Value:
        return _Value(tuple(fn(d) for d in self.dims), self.aligned, self.depth)

    def deeper(self) -> _Value:
        return dataclasses.replace(self, depth=self.depth + 1)


def _relabel(value: _Value, mapping: dict[int, int]) -> _Value:
    """Renumbers array axes; every tracked axis must be in `mapping`."""
    return value.replace_dims(lambda d: dataclasses.replace(d, axes=tuple((mapping[a], m) for a, m in d.axes)))


def _reduce(value: _Value, axes: set[int], shape: Sequence[int]) -> _Value:
    """Removes `axes`: each unit now sees what all units along them saw."""

    def reduce_dim(d: _Dim) -> _Dim:
        size = d.size + sum((shape[a] - 1) * m for a, m in d.axes if a in axes)
        return dataclasses.replace(d, axes=tuple((a, m) for a, m in d.axes if a not in axes), size=size)

    return value.replace_dims(reduce_dim)


def _drop(value: _Value, axes: set[int], shape: Sequence[int]) -> _Value:
    """`_reduce` over `axes`, then the remaining array axes renumbered as the output has them."""
    kept = [a for a in range(len(shape)) if a not in axes]
    return _relabel(_reduce(value, axes, shape), {a: i for i, a in enumerate(kept)})


def _tracked(value: _Value) -> set[int]:
    return {a for d in value.dims for a, _ in d.axes}


def _window(value: _Value, axis: int, kernel: int = 1, stride: int = 1, low: int = 0, base_dilation: int = 1,
            window_dilation: int = 1) -> _Value:
    """A sliding window along array `axis`: the recurrences of Araujo et al. (padding and slicing are k = 1)."""

    def window_dim(d: _Dim) -> _Dim:
        for i, (a, m) in enumerate(d.axes):
            if a == axis:
                step = m / base_dilation
                axes = (*d.axes[:i], (a, stride * step), *d.axes[i + 1:])
                return dataclasses.replace(d, axes=axes, size=d.size + window_dilation * (kernel - 1) * step,
                                           padding=d.padding + low * step)
        return d

    return value.replace_dims(window_dim)


class _Interpreter:
    def __init__(self):
        self.marks: dict[tuple[str, str], tuple[_Value | None, tuple[int, ...]]] = {}
        self.misalignments: list[Misalignment] = []
        self.untracked: set[str] = set()

    # -- merging paths

    def merge(self, values: Sequence[_Value | None], where: str) -> _Value | None:
        live = [v for v in values if v is not None]
        if len(live) <= 1:
            return live[0] if live else None
        dims, aligned = [], all(v.aligned for v in live)
        for axis, group in enumerate(zip(*(v.dims for v in live))):
            dim, ok = self._merge_dim(group)
            if not ok:
                aligned = False
                centers = tuple(sorted({float(d.center()) for d in group if d.axes}))
                self.misalignments.append(Misalignment(where, axis, centers))
            dims.append(dim)
        return _Value(tuple(dims), aligned, max(v.depth for v in live))

    @staticmethod
    def _merge_dim(group: Sequence[_Dim]) -> tuple[_Dim, bool]:
        """The union of the paths' regions, and whether they are centred alike."""
        local = [d for d in group if d.axes]
        fixed = [d for d in group if not d.axes]
        intervals = [d.context for d in group if d.context] + [d.interval() for d in fixed]
        context = (min(i[0] for i in intervals), max(i[1] for i in intervals)) if intervals else None
        if not local:
            return _Dim((), context[1] - context[0] + 1, -context[0]), True
        layout = {d.axes for d in local}
        if len(layout) > 1:  # the paths index the input differently: keep the widest, flag it
            widest = max(local, key=lambda d: d.size)
            return dataclasses.replace(widest, context=context), False
        lo = min(d.interval()[0] for d in local)
        hi = max(d.interval()[1] for d in local)
        aligned = len({d.center() for d in local}) == 1
        return _Dim(local[0].axes, hi - lo + 1, -lo, context), aligned

    def collapse(self, value: _Value | None, shape: Sequence[int]) -> _Value | None:
        """Every tracked axis reduced: the value depends on all its units' regions at once."""
        return None if value is None else _reduce(value, _tracked(value), shape)

    # -- the walk

    def run(self, jaxpr, args: Sequence[_Value | None]) -> list[_Value | None]:
        """Walks `jaxpr` with `args` for its inputs; constants (absent from `env`) depend on no input."""
        env: dict[Any, _Value | None] = dict(zip(jaxpr.invars, args))

        def read(v):
            return None if isinstance(v, Literal) else env.get(v)

        for eqn in jaxpr.eqns:
            invals = [read(v) for v in eqn.invars]
            outs = self.equation(eqn, invals)
            for var, value in zip(eqn.outvars, outs):
                env[var] = value
        return [read(v) for v in jaxpr.outvars]

    def equation(self, eqn, invals: list[_Value | None]) -> list[_Value | None]:
        name = eqn.primitive.name
        where = str(eqn.source_info.name_stack)
        shapes = [getattr(v.aval, "shape", ()) for v in eqn.invars]
        n_out = len(eqn.outvars)
        if eqn.primitive is _MARK:
            self.marks.setdefault((eqn.params["kind"], eqn.params["name"]), (invals[0], tuple(shapes[0][1:])))
            return invals
        if all(v is None for v in invals):
            return [None] * n_out
        inner = _inner_jaxpr(eqn)
        if inner is not None:
            return self.run(inner, invals)
        rule = _RULES.get(name)
        if rule is not None:
            return rule(self, eqn, invals, shapes, where)
        if name in _ELEMENTWISE:
            return [self.merge(invals, where)] * n_out
        if any(v is not None and _tracked(v) for v in invals):
            self.untracked.add(name)
        merged = self.merge([self.collapse(v, s) for v, s in zip(invals, shapes)], where)
        return [merged] * n_out


def _inner_jaxpr(eqn) -> Any | None:
    """The program a call-like primitive (jit, custom_jvp_call, remat, ...) runs, if it is one."""
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        inner = eqn.params.get(key)
        if inner is not None:
            return inner.jaxpr if hasattr(inner, "jaxpr") else inner  # a ClosedJaxpr, or a Jaxpr
    return None


_ELEMENTWISE = frozenset("""
    abs acos acosh add and asin asinh atan atan2 atanh cbrt ceil clamp complex conj convert_element_type copy
    copy_p cos cosh digamma div eq erf erf_inv erfc exp exp2 expm1 floor ge gt imag integer_pow is_finite le
    lgamma log log1p logistic lt max min mul ne neg nextafter not or population_count pow real reduce_precision
    rem round rsqrt select_n shift_left shift_right_arithmetic shift_right_logical sign sin sinh sqrt square
    stop_gradient sub tan tanh xor
""".split())


# ---- one rule per structural primitive ----------------------------------------------------------


def _conv(interp: _Interpreter, eqn, invals, shapes, where):
    lhs, rhs = invals
    params = eqn.params
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    out = None
    if lhs is not None:
        stray = _tracked(lhs) - {lhs_spec[0], *lhs_spec[2:]}  # a tracked feature axis is summed over
        out = _reduce(lhs, stray, shapes[0])
        for i, axis in enumerate(lhs_spec[2:]):
            out = _window(out, axis, shapes[1][rhs_spec[2 + i]], params["window_strides"][i],
                          params["padding"][i][0], params["lhs_dilation"][i], params["rhs_dilation"][i])
        out = _relabel(out, {lhs_spec[0]: out_spec[0], **{a: out_spec[2 + i] for i, a in enumerate(lhs_spec[2:])}})
        if any(shapes[1][a] > 1 for a in rhs_spec[2:]) or any(s > 1 for s in params["window_strides"]):
            out = out.deeper()
    return [interp.merge([out, interp.collapse(rhs, shapes[1])], where)]


def _reduce_window(interp: _Interpreter, eqn, invals, shapes, where):
    p = eqn.params
    operands = invals[: len(invals) // 2] if eqn.primitive.name == "reduce_window" else invals
    outs = []
    for value in operands:
        if value is not None:
            for axis in _tracked(value):
                value = _window(value, axis, p["window_dimensions"][axis], p["window_strides"][axis],
                                p["padding"][axis][0], p["base_dilation"][axis], p["window_dilation"][axis])
            if any(p["window_dimensions"][a] > 1 or p["window_strides"][a] > 1 for a in _tracked(value)):
                value = value.deeper()
        outs.append(value)
    merged = interp.merge(outs, where)
    return [merged] * len(eqn.outvars)


def _reduction(interp: _Interpreter, eqn, invals, shapes, where):
    axes = set(eqn.params["axes"])
    outs = [None if value is None else _drop(value, axes, shape) for value, shape in zip(invals, shapes)]
    return [interp.merge(outs, where)] * len(eqn.outvars)


def _broadcast_in_dim(interp: _Interpreter, eqn, invals, shapes, where):
    value, shape = invals[0], shapes[0]
    target, dims = eqn.params["shape"], eqn.params["broadcast_dimensions"]
    if value is None:
        return [None]
    expanded = {a for a in _tracked(value) if shape[a] == 1 and target[dims[a]] != 1}
    value = _reduce(value, expanded, shape)  # a broadcast single unit is the same unit everywhere
    return [interp.merge([_relabel(value, {a: dims[a] for a in _tracked(value)}), *invals[1:]], where)]


def _transpose(interp: _Interpreter, eqn, invals, shapes, where):
    perm = eqn.params["permutation"]
    return [_relabel(invals[0], {a: perm.index(a) for a in _tracked(invals[0])})]


def _squeeze(interp: _Interpreter, eqn, invals, shapes, where):
    return [_drop(invals[0], {d % len(shapes[0]) for d in eqn.params["dimensions"]}, shapes[0])]


def _reshape_groups(old: Sequence[int], new: Sequence[int]) -> list[tuple[list[int], list[int]]]:
    """Splits both shapes into runs of axes with equal products: the runs a row-major reshape maps onto each other."""
    groups, i, j = [], 0, 0
    while i < len(old) or j < len(new):
        gi, gj, pi, pj = [], [], 1, 1
        if i < len(old):
            gi.append(i)
            pi, i = pi * old[i], i + 1
        if j < len(new):
            gj.append(j)
            pj, j = pj * new[j], j + 1
        while pi != pj:
            if pi < pj:
                gi.append(i)
                pi, i = pi * old[i], i + 1
            else:
                gj.append(j)
                pj, j = pj * new[j], j + 1
        groups.append((gi, gj))
    return groups


def _reshape(interp: _Interpreter, eqn, invals, shapes, where):
    value, old = invals[0], shapes[0]
    if value is None:
        return [None]
    if eqn.params.get("dimensions") is not None:
        interp.untracked.add("reshape with dimensions")
        return [interp.collapse(value, old)]
    new = eqn.params["new_sizes"]
    tracked, mapping = _tracked(value), {}
    steps = {a: m for d in value.dims for a, m in d.axes}
    splits: dict[int, list[tuple[int, Fraction]]] = {}
    collapse: set[int] = set()
    for gi, gj in _reshape_groups(old, new):
        moving = [a for a in gi if a in tracked and old[a] != 1]
        collapse |= {a for a in gi if a in tracked and old[a] == 1}
        big_in = [a for a in gi if old[a] != 1]
        big_out = [b for b in gj if new[b] != 1]
        if not moving:
            continue
        if len(big_in) == 1 and len(big_out) == 1:
            mapping[moving[0]] = big_out[0]
        elif len(big_in) == 1:  # one spatial axis split into (outer, ..., inner), as in reshape-based pooling
            step, pieces = steps[moving[0]], []
            for b in reversed(big_out):
                pieces.append((b, step))
                step *= new[b]
            splits[moving[0]] = pieces
        else:  # merged with other axes (a flatten): every unit is read together
            collapse |= set(moving)
    value = _reduce(value, collapse, old)

    def move(d: _Dim) -> _Dim:
        axes = []
        for a, m in d.axes:
            axes += splits[a] if a in splits else [(mapping[a], m)]
        return dataclasses.replace(d, axes=tuple(axes))

    return [value.replace_dims(move)]


def _concatenate(interp: _Interpreter, eqn, invals, shapes, where):
    axis = eqn.params["dimension"]
    if any(v is not None and axis in _tracked(v) for v in invals):  # units side by side along space: untracked
        interp.untracked.add("concatenate along a spatial axis")
        return [interp.merge([interp.collapse(v, s) for v, s in zip(invals, shapes)], where)]
    return [interp.merge(invals, where)]


def _stack(interp: _Interpreter, eqn, invals, shapes, where):
    axis = eqn.params["axis"]
    merged = interp.merge(invals, where)
    return [None if merged is None else _relabel(merged, {a: a + (a >= axis) for a in _tracked(merged)})]


def _slice(interp: _Interpreter, eqn, invals, shapes, where):
    value = invals[0]
    strides = eqn.params["strides"] or (1,) * len(shapes[0])
    for axis in _tracked(value):
        value = _window(value, axis, stride=strides[axis], low=-eqn.params["start_indices"][axis])
    return [value]


def _split(interp: _Interpreter, eqn, invals, shapes, where):
    value, axis, outs, start = invals[0], eqn.params["axis"], [], 0
    for size in eqn.params["sizes"]:
        outs.append(_window(value, axis, low=-start) if value is not None else None)
        start += size
    return outs


def _pad(interp: _Interpreter, eqn, invals, shapes, where):
    value = invals[0]
    for axis in _tracked(value) if value is not None else ():
        low, _, interior = eqn.params["padding_config"][axis]
        value = _window(value, axis, low=low, base_dilation=interior + 1)
    return [interp.merge([value, invals[1]], where)]


def _dot_general(interp: _Interpreter, eqn, invals, shapes, where):
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    outs = []
    for value, shape, contract, batch, first in ((invals[0], shapes[0], lc, lb, len(lb)),
                                                 (invals[1], shapes[1], rc, rb, None)):
        if value is None:
            outs.append(None)
            continue
        value = _reduce(value, set(contract), shape)
        free = [a for a in range(len(shape)) if a not in contract and a not in batch]
        offset = first if first is not None else len(lb) + len(shapes[0]) - len(lc) - len(lb)
        mapping = {a: i for i, a in enumerate(batch)} | {a: offset + i for i, a in enumerate(free)}
        outs.append(_relabel(value, mapping))
    return [interp.merge(outs, where)]


_RULES: dict[str, Callable] = {
    "conv_general_dilated": _conv,
    "reduce_window": _reduce_window,
    "reduce_window_sum": _reduce_window,
    "reduce_window_max": _reduce_window,
    "reduce_window_min": _reduce_window,
    "reduce_sum": _reduction,
    "reduce_max": _reduction,
    "reduce_min": _reduction,
    "reduce_prod": _reduction,
    "reduce_and": _reduction,
    "reduce_or": _reduction,
    "argmax": _reduction,
    "argmin": _reduction,
    "broadcast_in_dim": _broadcast_in_dim,
    "transpose": _transpose,
    "squeeze": _squeeze,
    "reshape": _reshape,
    "concatenate": _concatenate,
    "stack": _stack,
    "slice": _slice,
    "split": _split,
    "pad": _pad,
    "dot_general": _dot_general,
}


# ---- the public entry points --------------------------------------------------------------------


def _public(value: _Value | None, input_shape: Sequence[int]) -> Field:
    spatial_shape = input_shape[:-1]
    if value is None:  # a layer the input never reaches (a constant): it sees nothing
        zeros = tuple(0 for _ in spatial_shape)
        return Field(zeros, tuple(spatial_shape), zeros, False, True, False)
    size, stride, padding = [], [], []
    for d, extent in zip(value.dims, spatial_shape):
        if d.axes:
            size.append(d.size), stride.append(max(m for _, m in d.axes)), padding.append(d.padding)
        else:  # one region for every unit: what of the image it reads
            lo, hi = max(-d.padding, 0), min(d.size - 1 - d.padding, extent - 1)
            size.append(hi - lo + 1), stride.append(Fraction(extent)), padding.append(-lo)
    spatial = all(d.axes for d in value.dims)
    return Field(_numbers(size), _numbers(stride), _numbers(padding), spatial, value.aligned,
                 any(d.context is not None for d in value.dims), value.depth)


def _numbers(values: Sequence[Fraction]) -> tuple[float, ...]:
    return tuple(int(v) if v.denominator == 1 else float(v) for v in values)


def trace_fields(model: nn.Module, input_shape: Sequence[int]) -> FieldMap:
    """Receptive field of every module output and every tap of `model` (any Module whose __call__ takes
    (x, train) and returns an array or (logits, taps)) on one input of `input_shape` = (H, W, ..., C)."""
    shape = tuple(input_shape)
    x = jax.ShapeDtypeStruct((1, *shape), jnp.float32)
    variables = jax.eval_shape(lambda v: model.init(jax.random.key(0), v), x)

    def mark(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name != "__call__":
            return out
        path = context.module.path
        if path and isinstance(out, jax.Array):
            return _MARK.bind(out, kind="layer", name="/".join(path))
        if path and isinstance(out, tuple) and out and isinstance(out[0], jax.Array):  # e.g. a NASNet cell's (new, previous)
            return (_MARK.bind(out[0], kind="layer", name="/".join(path)), *out[1:])
        if not path and isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
            logits, taps = out
            return logits, {k: _MARK.bind(v, kind="tap", name=k) if isinstance(v, jax.Array) else v
                            for k, v in taps.items()}
        return out

    def forward(v, inputs):
        with nn.intercept_methods(mark):
            return model.apply(v, inputs, train=False)

    with fast_paths.plain():  # the layers' plain primitives, which the rules below read
        closed = jax.make_jaxpr(forward)(variables, x)
    n_vars = len(jax.tree.leaves(variables))
    start = _Value(tuple(_Dim(((axis, Fraction(1)),), Fraction(1), Fraction(0)) for axis in range(1, len(shape))))
    interp = _Interpreter()
    interp.run(closed.jaxpr, [None] * n_vars + [start])

    layers, taps, shapes = {}, {}, {}
    for (kind, name), (value, out_shape) in interp.marks.items():
        (layers if kind == "layer" else taps)[name] = _public(value, shape)
        shapes[name if kind == "layer" else f"tap:{name}"] = out_shape
    return FieldMap(shape, layers, shapes, taps, tuple(interp.misalignments), tuple(sorted(interp.untracked)))


@functools.lru_cache(maxsize=64)  # the report, the plots and the tests ask for the same models again
def receptive_fields(name: str, input_size: int | None = None, **overrides) -> FieldMap:
    """`trace_fields` for registered model `name`, at its registered input size or `input_size`."""
    model_spec = spec(name)
    h, w, c = model_spec.input_shape
    shape = (input_size, input_size, c) if input_size else (h, w, c)
    return trace_fields(create(name, num_classes=model_spec.num_classes, **overrides), shape)
