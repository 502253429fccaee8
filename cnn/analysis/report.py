"""One report per model and input size: what each layer outputs, costs and sees (`launch.py analyze`).

The summary (shapes, parameters, MACs) and the traced receptive fields are joined layer by layer; the
model's taps follow, since pooling outputs (VGG's stage5, AlexNet's pool5) are often taps rather than
modules. The final feature layer is the one with the largest field that still has spatial axes; the
report says whether its centre unit sees the whole input and warns, as the notes advise, when the field
is far smaller than the input (units cannot relate distant parts) or far larger (most of each field is
padding).
"""

from __future__ import annotations

import dataclasses
import functools
import flax.linen as nn

from cnn.analysis.receptive_field import Field, FieldMap, receptive_fields, trace_fields
from cnn.analysis.summary import Summary, summarize, summarize_module

SMALL = 0.5  # a final field under half the input on an axis is "small"
LARGE = 4.0  # over four times the input, "large"


@dataclasses.dataclass(frozen=True)
class LayerReport:
    layer: str  # module path, or "tap:NAME"
    kind: str  # the module's class, or "tap"
    output_shape: tuple[int, ...]
    params: int | None  # None for a tap: its cost is spread over the modules before it
    macs: int | None
    field: Field

    @property
    def flops(self) -> int | None:
        return None if self.macs is None else 2 * self.macs


@dataclasses.dataclass(frozen=True)
class Report:
    model: str
    input_shape: tuple[int, ...]
    rows: tuple[LayerReport, ...]
    final: LayerReport  # the final feature layer
    covers_input: bool  # the final layer's centre unit sees every input pixel (or a global gate reaches it)
    warnings: tuple[str, ...]
    params: int
    macs: int
    fields: FieldMap  # every module's and tap's field, as traced

    @property
    def flops(self) -> int:
        return 2 * self.macs


def covers(field: Field, output_shape: tuple[int, ...], input_shape: tuple[int, ...]) -> bool:
    """Whether the centre unit's region spans the whole input (always true past global pooling)."""
    if field.global_context:
        return True
    if not field.spatial:
        return all(s >= n for s, n in zip(field.size, input_shape[:-1]))
    centre = tuple((n - 1) // 2 for n in output_shape[:-1])
    return all(lo <= 0 and hi >= n - 1 for (lo, hi), n in zip(field.bounds(centre), input_shape[:-1]))


def _warnings(final: LayerReport, fields: FieldMap) -> list[str]:
    notes = []
    extent = fields.input_shape[:-1]
    ratios = [s / n for s, n in zip(final.field.size, extent)]
    shown, image = "×".join(map(str, final.field.size)), "×".join(map(str, extent))
    if min(ratios) < SMALL:
        notes.append(f"small field: {final.layer} sees {shown} of the {image} input; its units "
                     "cannot relate parts of the image farther apart than that")
    elif max(ratios) > LARGE:
        notes.append(f"large field: {final.layer} sees {shown}, over {LARGE:g}× the {image} "
                     "input, so most of each unit's field is padding; a larger input or fewer layers would use it")
    if fields.misalignments:
        first = fields.misalignments[0]
        notes.append(f"misaligned paths at {len(fields.misalignments)} merges (first: {first.where or 'top level'}, "
                     f"axis {first.axis}, unit-0 centres {', '.join(f'{c:g}' for c in first.centers)}); "
                     "the reported field is their union")
    if fields.untracked:
        notes.append(f"no receptive-field rule for {', '.join(fields.untracked)}: outputs of these were given every "
                     "pixel their inputs see, so fields after them are upper bounds")
    return notes


def _build(summary: Summary, fields: FieldMap) -> Report:
    rows = [LayerReport(r.layer, r.kind, r.output_shape, r.params, r.macs, fields.layers[r.layer])
            for r in summary.rows if r.layer in fields.layers]
    rows += [LayerReport(f"tap:{name}", "tap", fields.shapes[f"tap:{name}"], None, None, field)
             for name, field in fields.taps.items()]
    final_name, final_field = fields.final()
    final = next((r for r in rows if r.layer == final_name), None)
    if final is None:  # a module deeper than the report lists
        final = LayerReport(final_name, "module", fields.shapes[final_name], None, None, final_field)
    return Report(summary.model, summary.input_shape, tuple(rows), final,
                  covers(final.field, final.output_shape, summary.input_shape), tuple(_warnings(final, fields)),
                  summary.params, summary.macs, fields)


@functools.lru_cache(maxsize=64)
def analyze(name: str, input_size: int | None = None, *, depth: int = 1, **overrides) -> Report:
    """The report for registered model `name` at its registered input size or `input_size`."""
    return _build(summarize(name, input_size, depth=depth, **overrides), receptive_fields(name, input_size, **overrides))


def analyze_module(model: nn.Module, input_shape: tuple[int, ...], *, depth: int = 1, name: str = "model") -> Report:
    """`analyze` for any Module whose __call__ takes (x, train)."""
    return _build(summarize_module(model, input_shape, depth=depth, name=name), trace_fields(model, input_shape))


def _row_json(row: LayerReport) -> dict:
    f = row.field
    return {"layer": row.layer, "type": row.kind, "output_shape": list(row.output_shape), "params": row.params,
            "flops": row.flops, "rf_size": list(f.size), "rf_stride": list(f.stride),
            "rf_padding": list(f.padding), "rf_center": list(f.center((0,) * len(f.size))),
            "spatial": f.spatial, "aligned": f.aligned, "global_context": f.global_context}


def report_json(report: Report, extra: dict | None = None) -> list[dict]:
    """One object per layer, then a summary object: the final feature layer's values under the same keys
    (params and flops there are the whole model's) plus covers_input, warnings and anything in `extra`."""
    summary = {**_row_json(report.final), "summary": True, "model": report.model,
               "input_shape": list(report.input_shape), "params": report.params, "flops": report.flops,
               "covers_input": report.covers_input, "warnings": list(report.warnings), **(extra or {})}
    return [*map(_row_json, report.rows), summary]


def _cell(values: tuple[float, ...]) -> str:
    return f"{values[0]:g}" if len(set(values)) == 1 else "×".join(f"{v:g}" for v in values)


def format_report(report: Report) -> str:
    """A fixed-width table, one line per layer and tap, then the final layer, its coverage and any warnings."""
    head = ("layer", "type", "output", "params", "MACs", "RF", "stride", "padding", "")
    table = [head]
    for r in report.rows:
        f = r.field
        flags = ("≠" if not f.aligned else "") + ("G" if f.global_context else "") + ("" if f.spatial else "all")
        table.append((r.layer, r.kind, "×".join(map(str, r.output_shape)),
                      "" if r.params is None else f"{r.params:,}", "" if r.macs is None else f"{r.macs:,}",
                      _cell(f.size), _cell(f.stride), _cell(f.padding), flags))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 3 or i == 8 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             .rstrip() for row in table]
    f = report.final.field
    lines += ["",
              f"{report.model} at {'×'.join(map(str, report.input_shape))}: {report.params:,} parameters, "
              f"{report.macs / 1e9:.3g} GMACs per image",
              f"final feature layer {report.final.layer}: field {_cell(f.size)}, stride {_cell(f.stride)}, padding "
              f"{_cell(f.padding)}; the centre unit {'sees the whole input' if report.covers_input else 'does not see the whole input'}",
              "flags: ≠ misaligned paths merged (union shown), G a global gate also reaches it, all past global "
              "pooling or flattening (the region read from the image)"]
    lines += [f"warning: {w}" for w in report.warnings]
    return "\n".join(lines)


def depth_series(fields: FieldMap) -> list[tuple[int, float]]:
    """(depth, largest field size at that depth) along the network, depth counting the spatial windows
    (convolutions and pools wider than 1 or strided) on the longest path from the input."""
    largest: dict[int, float] = {}
    for field in [*fields.layers.values(), *fields.taps.values()]:
        if field.spatial:
            largest[field.depth] = max(largest.get(field.depth, 0), max(field.size))
    return sorted(largest.items())
