r"""Regenerates the tables of README.md from the code, so no number in them is typed by hand.

    python experiments/tables.py                    # prints the tables
    python experiments/tables.py --write            # rewrites them in README.md
    python experiments/tables.py --collect --write  # first reads the workdirs under runs/ into
                                                    # experiments/results.json (experiments/reproduce.py) and
                                                    # experiments/notes/results.json (+ docs/notes/*.png)

Figures come from JSON files the experiments write from their workdirs (config.json, metrics.jsonl,
machine.json), never typed by hand; rerunning on the same workdirs gives the same README.
"""

from __future__ import annotations

import inspect
import os
import re
import runpy
import sys

import cnn.filters
import cnn.layers
import cnn.models
from cnn.analysis import summarize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
sys.path.insert(0, ROOT)  # benchmarks/ is a folder of scripts beside the package, not installed with it
from benchmarks import compare, conv_layers, time_to_accuracy  # noqa: E402


def models_table() -> str:
    rows = ["| model | input | classes | parameters | GMACs | reference |", "| --- | --- | --- | ---: | ---: | --- |"]
    for name in cnn.models.names():
        spec = cnn.models.spec(name)
        summary = summarize(name)
        rows.append(f"| `{name}` | {'×'.join(map(str, spec.input_shape))} | {spec.num_classes} | "
                    f"{summary.params:,} | {summary.macs / 1e9:.3g} | {spec.reference} |")
    return "\n".join(rows)


def _summary(obj: object) -> str:
    """The first paragraph of an object's docstring on one line, safe inside a table cell."""
    return " ".join(inspect.getdoc(obj).split("\n\n")[0].split()).replace("|", "\\|")


def layers_table() -> str:
    rows = ["| name | computes |", "| --- | --- |"]
    for module in (cnn.layers, cnn.filters):
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj):
                rows.append(f"| `{module.__name__}.{name}` | {_summary(obj)} |")
    return "\n".join(rows)


_FIELDS = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "receptive_fields.py"))
_TRANSFER = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "transfer", "study.py"))
_NOTES = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes", "study.py"))
_REPRODUCE = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "reproduce.py"))
TABLES = {"models": models_table, "layers": layers_table, "rf_design": _FIELDS["design_rules_table"],
          "rf_growth": _FIELDS["growth_table"], "perf": compare.results_table, "conv_layers": conv_layers.results_table,
          "time_to_accuracy": time_to_accuracy.results_table, "transfer": _TRANSFER["strategies_table"],
          "transfer_probes": _TRANSFER["probes_table"],
          **{f"notes_{name}": (lambda name=name: _NOTES["study_table"](name)) for name in _NOTES["STUDIES"]},
          **{f"results_{name}": (lambda name=name: _REPRODUCE["results_table"](name))
             for name in _REPRODUCE["DATASETS"]}}


def render(text: str) -> str:
    """`text` with every `<!-- table:NAME -->...<!-- /table -->` block regenerated."""
    def fill(match: re.Match) -> str:
        return f"<!-- table:{match[1]} -->\n{TABLES[match[1]]()}\n<!-- /table -->"
    return re.sub(r"<!-- table:(\w+) -->.*?<!-- /table -->", fill, text, flags=re.S)


if __name__ == "__main__":
    with open(README) as f:
        current = f.read()
    if "--collect" in sys.argv[1:]:
        _REPRODUCE["collect"]()
        _NOTES["collect"](_NOTES["STUDIES"], os.path.join(ROOT, "runs", "notes"))
    if "--write" in sys.argv[1:]:
        with open(README, "w") as f:
            f.write(render(current))
    else:
        print("\n\n".join(table() for table in TABLES.values()))
