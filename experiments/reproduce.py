r"""The published-results tables: every experiment config's target against what its workdir reached.

    python experiments/reproduce.py            # reads the workdirs into experiments/results.json, prints the tables
    python experiments/tables.py --write       # renders them into README.md

Each config under experiments/<dataset>/ states its command in its docstring (`--workdir DIR`) and its
target as `PUBLISHED = {"top1": fraction or None, "source": "..."}`. A config whose workdir exists
(relative to the repository root) is read with `cnn.train.results.read_run` and recorded; one that is
missing keeps its earlier entry, so results gathered on other machines (a lent GPU) stay. Reading the same
workdirs again gives the same file.
"""

from __future__ import annotations

import ast
import os
import re
import runpy
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.compare import read_json, write_json  # noqa: E402
from cnn.machine import short  # noqa: E402
from cnn.train.results import read_run  # noqa: E402

RESULTS = os.path.join(ROOT, "experiments", "results.json")
DATASETS = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "imagenet": "ImageNet"}
_WORKDIR = re.compile(r"--workdir\s+(\S+)")


def configs(dataset: str) -> list[str]:
    """The config files of experiments/<dataset>/, as paths relative to the repository root."""
    folder = os.path.join(ROOT, "experiments", dataset)
    return sorted(os.path.join("experiments", dataset, name) for name in os.listdir(folder)
                  if name.endswith(".py") and "\ndef get_config(" in open(os.path.join(folder, name)).read())


def workdir(path: str) -> str:
    """The workdir of the command in the config's docstring, relative to the repository root."""
    with open(os.path.join(ROOT, path)) as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    match = _WORKDIR.search(doc)
    if not match:
        raise ValueError(f"{path}: its docstring shows no `--workdir DIR` in the command that runs it")
    return match[1]


def published(path: str, namespace: dict | None = None) -> dict:
    """The config's PUBLISHED target: {"top1": fraction or None, "source": str}; `namespace` is the file's,
    already run."""
    target = (namespace or runpy.run_path(os.path.join(ROOT, path))).get("PUBLISHED")
    if not isinstance(target, dict) or set(target) != {"top1", "source"}:
        raise ValueError(f'{path}: define PUBLISHED = {{"top1": <test top-1 as a fraction, or None>, '
                         f'"source": "<paper, table>"}}')
    return target


def summarize(run_dir: str) -> dict:
    result = read_run(run_dir)
    return {"top1": result.final("top1"), "best_top1": result.best("top1"), "epochs": round(result.epochs, 2),
            "planned_epochs": round(result.planned_steps / result.per_epoch, 2), "wall_s": result.wall_s,
            "machine": short(result.machine) if result.machine else None,
            "date": result.machine["date"][:10] if result.machine else None}


def collect(root: str = ROOT, path: str = RESULTS) -> dict:
    """Updates `path` from the workdirs (under `root`) of every config that has run."""
    results = read_json(path) or {}
    for dataset in DATASETS:
        for config in configs(dataset):
            run_dir = os.path.join(root, workdir(config))
            if os.path.exists(os.path.join(run_dir, "metrics.jsonl")):
                results[config] = summarize(run_dir)
    write_json(results, path)
    return results


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def results_table(dataset: str, path: str = RESULTS) -> str:
    """One row per config of `dataset`: the published test top-1 and source, cnn's, the gap, time and machine."""
    results = read_json(path) or {}
    lines = ["| config | model | published top-1 % | source | cnn top-1 % | gap | epochs | wall time | machine |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    for config in configs(dataset):
        namespace = runpy.run_path(os.path.join(ROOT, config))
        target, model = published(config, namespace), namespace["get_config"]().model.name
        row = results.get(config)
        if row is None:
            ours = ["not run yet", "", "", "", ""]
        else:
            gap = None if target["top1"] is None or row["top1"] is None else row["top1"] - target["top1"]
            epochs = f"{row['epochs']:g}" + ("" if row["epochs"] >= row["planned_epochs"] else
                                             f" of {row['planned_epochs']:g}")
            ours = [_percent(row["top1"]), "–" if gap is None else f"{100 * gap:+.2f}", epochs,
                    "–" if row["wall_s"] is None else f"{row['wall_s'] / 60:.1f} min",
                    f"{row['machine']}, {row['date']}" if row["machine"] else "–"]
        lines.append(f"| `{config}` | `{model}` | {_percent(target['top1'])} | {target['source']} | "
                     + " | ".join(ours) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    collect()
    for name, title in DATASETS.items():
        print(f"\n{title}\n\n{results_table(name)}")
