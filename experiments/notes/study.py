r"""The notes' experiments: trains each study's runs, then records from their workdirs what they reached.

    python experiments/notes/study.py [--studies activation,dropout,...] [--root runs/notes] [--collect-only]

Each study is a config file beside this one (experiments/notes/<study>.py, its `STUDY` lists the runs).
Every run trains into `<root>/<study>/<label>`; a finished one is only re-evaluated, an interrupted one
resumes, one whose loss turns non-finite is recorded as diverged. Then, from the workdirs alone
(config.json, metrics.jsonl, machine.json: `cnn.train.results`), it writes experiments/notes/results.json
(other studies' entries are kept) and a PNG of each study's curves in docs/notes/; `experiments/tables.py
--write` renders the README's tables from the JSON. Collecting again from the same workdirs gives the
same file.
"""

from __future__ import annotations

import argparse
import functools
import os
import runpy
import sys
from collections.abc import Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # the study configs import experiments.notes.base

from benchmarks.compare import read_json, write_json  # noqa: E402
from cnn.machine import short  # noqa: E402
from cnn.train.results import RunResult, read_run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results.json")
FIGURES = os.path.join(ROOT, "docs", "notes")
STUDIES = ("activation", "dropout", "batch_norm", "initialization", "optimizers", "augmentation")


@functools.cache
def _module(name: str) -> dict:
    """The namespace of experiments/notes/<name>.py, run once per process."""
    if name not in STUDIES:
        raise SystemExit(f"unknown study {name!r}; the studies are {', '.join(STUDIES)}")
    return runpy.run_path(os.path.join(HERE, f"{name}.py"))


def study(name: str):
    """The `STUDY` of experiments/notes/<name>.py."""
    return _module(name)["STUDY"]


def config_path(name: str) -> str:
    return os.path.relpath(os.path.join(HERE, f"{name}.py"), ROOT)


def command(name: str, run, root: str) -> str:
    overrides = "".join(f" --config.{key}={value}" for key, value in run.overrides.items())
    return (f"python launch.py train --config {config_path(name)}:{run.variant}{overrides} "
            f"--workdir {os.path.join(root, name, run.label)}")


def train(name: str, root: str) -> None:
    """Trains (or resumes, or re-evaluates) every run of study `name` under `root`."""
    from cnn.config import load_config
    from cnn.train import NonFiniteLossError, train_and_evaluate

    for run in study(name).runs:
        config = load_config(f"{os.path.join(HERE, name)}.py:{run.variant}")
        for key, value in run.overrides.items():
            parent, _, leaf = key.rpartition(".")
            (config[parent] if parent else config)[leaf] = value
        workdir = os.path.join(root, name, run.label)
        print(f"\n{name}: {command(name, run, root)}", flush=True)
        try:
            train_and_evaluate(config, workdir)
        except NonFiniteLossError as e:
            print(f"{name}/{run.label} diverged: {e}", flush=True)


def _error_steps(result: RunResult, levels: Sequence[float]) -> dict[str, int | None]:
    """The first step whose training log window had at most each error level (None: never)."""
    return {f"{level:g}": (hit["step"] if (hit := result.first_reaching("train", "top1", 1 - level)) else None)
            for level in levels}


def summarize(name: str, run, result: RunResult) -> dict:
    """One run's row: what it is, where its losses and accuracies ended, how long it took, on what."""
    train = result.split("train")
    finite = [r for r in train if r["loss"] == r["loss"] and abs(r["loss"]) != float("inf")]
    # Under mixup the train top-1 counts each example's own label in a mix of two: no accuracy to compare.
    mixes = result.config.get("augment", {}).get("mixup", 0) > 0
    return {
        "label": run.label,
        "command": command(name, run, "runs/notes"),
        "variant": run.variant,
        "overrides": dict(run.overrides),
        "learning_rate": result.config["optimizer"]["learning_rate"],
        "train_loss": finite[-1]["loss"] if finite else None,
        "train_top1": finite[-1]["top1"] if finite and not mixes else None,
        "test_top1": result.final("top1"),
        "best_test_top1": result.best("top1"),
        "diverged": len(finite) < len(train) or (bool(train) and result.steps < result.planned_steps),
        "steps": result.steps,
        "epochs": round(result.epochs, 2),
        "error_steps": _error_steps(result, study(name).error_levels),
        "wall_s": result.wall_s,
        "machine": short(result.machine) if result.machine else None,
        "date": result.machine["date"][:10] if result.machine else None,
    }


def plot(name: str, results: Sequence[tuple[object, RunResult]], path: str) -> str:
    """Training loss (log scale) and test top-1 against epochs for every run of the study, one line each."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from cnn.viz.plots import save_png

    fig = Figure(figsize=(11, 4), layout="constrained")
    loss_ax, test_ax = fig.subplots(1, 2)
    palette = colormaps["tab10" if len(results) <= 10 else "tab20"]  # one colour per run, none repeated
    for i, (run, result) in enumerate(results):
        train = [r for r in result.split("train") if r["loss"] == r["loss"]]
        loss_ax.plot([r["epoch"] for r in train], [r["loss"] for r in train], label=run.label, lw=1.2,
                     color=palette(i))
        test = result.split("test")
        test_ax.plot([r["epoch"] for r in test], [r["top1"] for r in test], "o-", markersize=3, color=palette(i),
                     label=run.label)
    loss_ax.set_yscale("log")
    loss_ax.set(xlabel="epoch", ylabel="training loss (log-window means)")
    test_ax.set(xlabel="epoch", ylabel="test top-1")
    for ax in (loss_ax, test_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{study(name).title} (experiments/notes/{name}.py)")
    return save_png(fig, path)


def collect(names: Sequence[str], root: str, results_path: str = RESULTS, figures: str = FIGURES) -> dict:
    """Reads the runs of each study in `names` from `root` into `results_path` and draws their PNGs; a study
    whose workdirs are missing keeps its earlier entry."""
    results = read_json(results_path) or {}
    for name in names:
        found = [(run, read_run(os.path.join(root, name, run.label))) for run in study(name).runs
                 if os.path.exists(os.path.join(root, name, run.label, "metrics.jsonl"))]
        if not found:
            continue
        results[name] = {"config": config_path(name), "runs": [summarize(name, run, result) for run, result in found]}
        plot(name, found, os.path.join(figures, f"{name}.png"))
    write_json(results, results_path)
    return results


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def study_table(name: str, path: str = RESULTS) -> str:
    """The README's table for study `name`: one row per run, then what the notes claim and what cnn measured."""
    entry = (read_json(path) or {}).get(name)
    if not entry:
        return f"Not run yet: `python experiments/notes/study.py --studies {name}`."
    levels = study(name).error_levels
    head = ["run", "learning rate", *(f"steps to {100 * level:g}% train error" for level in levels),
            "train loss", "train top-1 %", "test top-1 %", "train − test", "epochs", "wall time"]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for row in entry["runs"]:
        gap = (None if row["train_top1"] is None or row["test_top1"] is None
               else row["train_top1"] - row["test_top1"])
        steps = [("never" if row["error_steps"][f"{level:g}"] is None else f"{row['error_steps'][f'{level:g}']:,}")
                 for level in levels]
        loss = "diverged" if row["diverged"] else f"{row['train_loss']:.3f}"
        wall = "–" if row["wall_s"] is None else f"{row['wall_s']:.0f} s"
        lines.append(f"| `{row['label']}` | {row['learning_rate']:g} | " + "".join(f"{s} | " for s in steps)
                     + f"{loss} | {_percent(row['train_top1'])} | {_percent(row['test_top1'])} | "
                     + f"{'–' if gap is None else f'{100 * gap:+.1f}'} | {row['epochs']:g} | {wall} |")
    machines = "; ".join(sorted({f"{r['machine']}, {r['date']}" for r in entry["runs"] if r["machine"]}))
    notes = study(name)
    return "\n".join([*lines, "", f"The notes: {notes.claim}. Measured here: {verdict(name, entry['runs'])}", "",
                      f"`{entry['config']}`, Fashion-MNIST; train figures are means over the last log window (no train "
                      f"top-1 under mixup, whose targets are mixes), test top-1 on all 10,000 test images at the end; on "
                      f"{machines or 'an unrecorded machine'}."])


def verdict(name: str, rows: Sequence[dict]) -> str:
    """What the runs show, in one sentence computed from them."""
    if name == "activation":
        nets = _module(name)["NETS"]  # variant prefix: the net those runs train, compared on its own
        said = [f"{net}: {_speedup(rows, prefix + 'relu', prefix + 'tanh', study(name).error_levels)}"
                for prefix, net in nets.items() if any(r["variant"].startswith(prefix + "relu") for r in rows)]
        return " ".join(said) if said else "no runs yet."
    best = max((r for r in rows if r["test_top1"] is not None), key=lambda r: r["test_top1"])
    gaps = sorted((r["train_top1"] - r["test_top1"], r["label"]) for r in rows
                  if r["train_top1"] is not None and r["test_top1"] is not None and not r["diverged"])
    stalled = [f"`{r['label']}`" for r in rows if r["diverged"] or (r["test_top1"] or 0) < 0.5]
    said = f"the highest test top-1 is `{best['label']}`'s {_percent(best['test_top1'])}%"
    if len(gaps) > 1:
        said += (f"; the train − test gap runs from {100 * gaps[0][0]:+.1f} points (`{gaps[0][1]}`) to "
                 f"{100 * gaps[-1][0]:+.1f} (`{gaps[-1][1]}`)")
    return said + (f"; {', '.join(stalled)} diverged or stayed below 50% test accuracy." if stalled else ".")


def _speedup(rows: Sequence[dict], fast: str, slow: str, levels: Sequence[float]) -> str:
    parts = []
    for level in levels:
        key = f"{level:g}"

        def first(variant: str) -> dict | None:
            hits = [r for r in rows if r["variant"] == variant and r["error_steps"][key] is not None]
            return min(hits, key=lambda r: r["error_steps"][key]) if hits else None

        a, b = first(fast), first(slow)
        if a and b:
            parts.append(f"to {100 * level:g}% training error {fast} took {a['error_steps'][key]:,} steps (learning "
                         f"rate {a['learning_rate']:g}), {slow} {b['error_steps'][key]:,} ({b['learning_rate']:g}): "
                         f"{b['error_steps'][key] / a['error_steps'][key]:.1f}× as many")
        elif a:
            parts.append(f"to {100 * level:g}% training error {fast} took {a['error_steps'][key]:,} steps; {slow} "
                         f"never got there")
    return "; ".join(parts) + "." if parts else "neither reached the error levels."


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", default=",".join(STUDIES), help="comma-separated, of " + ", ".join(STUDIES))
    parser.add_argument("--root", default=os.path.join(ROOT, "runs", "notes"), help="where the workdirs go")
    parser.add_argument("--collect-only", action="store_true", help="only read finished workdirs into the JSON")
    args = parser.parse_args(argv)
    names = [n for n in args.studies.split(",") if n]
    for name in names:
        study(name)  # every name checked before anything trains
    if not args.collect_only:
        for name in names:
            train(name, args.root)
    collect(names, args.root)
    for name in names:
        print(f"\n## {study(name).title}\n\n{study_table(name)}")


if __name__ == "__main__":
    main()
