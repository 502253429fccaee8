"""Wall time from `launch.py train` to a test accuracy, end to end: start-up, data, compilation, training.

    python -m benchmarks.time_to_accuracy [--config experiments/fashion_mnist/lenet5.py] [--target 0.91]
        [--json benchmarks/time_to_accuracy.json] [--keep runs/NAME] [-- --config.num_epochs=8 ...]

The run is a subprocess started on a clock; each test evaluation the trainer prints is stamped with the
seconds since that start as it arrives, so the figure is what a researcher waits, not a sum of step
times. The workdir is a fresh temporary directory, or with --keep a new one that stays for
experiments/tables.py to read; nothing is resumed. The JSON holds one run per config and overrides
(a rerun replaces its row): every evaluation, the first that reaches the target and the machine;
`results_table` turns them into the README's rows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from benchmarks.compare import machine, read_json, write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = "experiments/fashion_mnist/lenet5.py"
DEFAULT_JSON = os.path.join("benchmarks", "time_to_accuracy.json")
# What cnn.train.loop prints after each evaluation.
_EVAL_LINE = re.compile(r"step (\d+) \(epoch ([\d.]+)\): test loss [\d.]+ top1 ([\d.]+)")


def measure(config: str = DEFAULT_CONFIG, target: float = 0.91, overrides: Sequence[str] = (),
            python: str = sys.executable, keep: str | None = None) -> dict:
    """Runs one training to completion and times each evaluation from the process's start; `keep` is a
    new workdir to leave the run in (for experiments/tables.py), else a temporary one is used."""
    if keep is not None and os.path.exists(keep) and os.listdir(keep):
        raise ValueError(f"--keep {keep} is not empty: a resumed run would not be timed from the start; "
                         "give a new folder")
    with (contextlib.nullcontext(keep) if keep else tempfile.TemporaryDirectory(prefix="time_to_accuracy_")) as workdir:
        command = [python, os.path.join(ROOT, "launch.py"), "train", "--config", config, "--workdir", workdir,
                   *overrides]
        start = time.perf_counter()
        evaluations = []
        with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              bufsize=1) as process:
            for line in process.stdout:
                if match := _EVAL_LINE.search(line):
                    evaluations.append({"step": int(match[1]), "epoch": float(match[2]), "top1": float(match[3]),
                                        "seconds": round(time.perf_counter() - start, 2)})
                    print(f"  epoch {match[2]:>6}: top-1 {match[3]} at {evaluations[-1]['seconds']:.1f} s", flush=True)
        total = time.perf_counter() - start
        if process.returncode:
            raise RuntimeError(f"`{' '.join(command)}` exited with {process.returncode}; run it by hand to see why")
    reached = next((e for e in evaluations if e["top1"] >= target), None)
    return {
        "config": config,
        "overrides": list(overrides),
        "target_top1": target,
        "reached": reached,
        "final_top1": evaluations[-1]["top1"] if evaluations else None,
        "total_seconds": round(total, 2),
        "evaluations": evaluations,
        "machine": machine(None),
    }


def record(result: dict, path: str) -> None:
    """Adds `result` to the runs in the JSON at `path`, replacing an earlier run of the same config and overrides."""
    runs = _runs(path)
    key = (result["config"], result["overrides"])
    runs = [run for run in runs if (run["config"], run["overrides"]) != key] + [result]
    write_json({"runs": runs}, path)


def _runs(path: str) -> list[dict]:
    return (read_json(path) or {"runs": []})["runs"]


def results_table(path: str = os.path.join(ROOT, DEFAULT_JSON)) -> str:
    """The README's time-to-accuracy table from the runs `record` wrote, one row each."""
    command = "python -m benchmarks.time_to_accuracy"
    runs = _runs(path)
    if not runs:
        return f"No time-to-accuracy figures yet: run `{command}`."
    rows = ["| experiment | target test top-1 | reached after | final top-1 | whole run | machine, date |",
            "| --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        reached = run["reached"]
        when = (f"{_duration(reached['seconds'])} (epoch {reached['epoch']:g})" if reached
                else f"not reached (final {run['final_top1']:.4f})")
        config = " ".join([run["config"], *run["overrides"]])
        machine = run["machine"]
        rows.append(f"| `{config}` | {run['target_top1']:.2f} | {when} | {run['final_top1']:.4f} | "
                    f"{_duration(run['total_seconds'])} | {machine['cpu']} ({machine['cores']} cores), "
                    f"{machine['date'][:10]} |")
    return "\n".join([*rows, "", f"Wall time from the process's start; `{command}` measures it."])


def _duration(seconds: float) -> str:
    """'41 s' below two minutes, else '34.6 min': what a reader compares at a glance."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--target", type=float, default=0.91, help="test top-1 to reach")
    parser.add_argument("--json", default=os.path.join(ROOT, DEFAULT_JSON), help="where the result goes")
    parser.add_argument("--keep", help="a new workdir to keep the run in (default: a temporary one)")
    parser.add_argument("overrides", nargs="*", help="flags for launch.py train, after --")
    args = parser.parse_args(argv)
    result = measure(args.config, args.target, args.overrides, keep=args.keep)
    record(result, args.json)
    print(results_table(args.json))


if __name__ == "__main__":
    main()
