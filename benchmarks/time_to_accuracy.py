"""Wall time from `launch.py train` to a test accuracy, end to end: start-up, data, compilation, training.

    python -m benchmarks.time_to_accuracy [--config experiments/fashion_mnist/lenet5.py] [--target 0.91]
        [--json benchmarks/time_to_accuracy.json] [-- --config.num_epochs=8 ...]

The run is a subprocess started on a clock; each test evaluation the trainer prints is stamped with the
seconds since that start as it arrives, so the figure is what a researcher waits, not a sum of step
times. The workdir is a fresh temporary directory, so nothing is resumed. The JSON records every
evaluation, the first that reaches the target and the machine; `results_table` turns it into the
README's row.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from benchmarks.compare import machine, write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = "experiments/fashion_mnist/lenet5.py"
DEFAULT_JSON = os.path.join("benchmarks", "time_to_accuracy.json")
# What cnn.train.loop prints after each evaluation.
_EVAL_LINE = re.compile(r"step (\d+) \(epoch ([\d.]+)\): test loss [\d.]+ top1 ([\d.]+)")


def measure(config: str = DEFAULT_CONFIG, target: float = 0.91, overrides: Sequence[str] = (),
            python: str = sys.executable) -> dict:
    """Runs one training to completion and times each evaluation from the process's start."""
    with tempfile.TemporaryDirectory(prefix="time_to_accuracy_") as workdir:
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


def results_table(path: str = os.path.join(ROOT, DEFAULT_JSON)) -> str:
    """The README's time-to-accuracy table from the JSON `measure` wrote."""
    command = "python -m benchmarks.time_to_accuracy"
    if not os.path.exists(path):
        return f"No time-to-accuracy figures yet: run `{command}`."
    with open(path) as f:
        result = json.load(f)
    reached = result["reached"]
    when = (f"{reached['seconds']:.0f} s (epoch {reached['epoch']:g})" if reached
            else f"not reached (final {result['final_top1']:.4f})")
    config = " ".join([result["config"], *result["overrides"]])
    machine = result["machine"]
    return "\n".join([
        "| experiment | target test top-1 | reached after | final top-1 | whole run |",
        "| --- | --- | --- | --- | --- |",
        f"| `{config}` | {result['target_top1']:.2f} | {when} | {result['final_top1']:.4f} | "
        f"{result['total_seconds']:.0f} s |",
        "",
        f"Wall time from the process's start, on {machine['cpu']} ({machine['cores']} cores), "
        f"{machine['date'][:10]}; `{command}` measures it.",
    ])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--target", type=float, default=0.91, help="test top-1 to reach")
    parser.add_argument("--json", default=os.path.join(ROOT, DEFAULT_JSON), help="where the result goes")
    parser.add_argument("overrides", nargs="*", help="flags for launch.py train, after --")
    args = parser.parse_args(argv)
    result = measure(args.config, args.target, args.overrides)
    write_json(result, args.json)
    print(results_table(args.json))


if __name__ == "__main__":
    main()
