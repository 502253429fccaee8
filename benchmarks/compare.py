"""Train-step images/s of cnn and of the same architecture in PyTorch, measured side by side in one process.

    python -m benchmarks.compare [--models lenet5,resnet20_cifar,resnet18] [--rounds 7] [--json PATH] [--quick]

Both frameworks run one SGD + momentum (0.01, 0.9) update on a fixed random float32 batch per step, on
every core. cnn's step is `cnn.bench.CompiledTrainStep`, the step training runs (jitted, state donated);
PyTorch's is eager (`benchmarks.torch_models.train_step`), in whichever memory format (NCHW or
channels_last) is faster for it on this machine, so cnn is compared with PyTorch's best layout. After
warm-up (cnn's compilation and a few steps of each), each round times a run of about a second of cnn
steps, then one of PyTorch steps; alternating shares any drift of the machine (clock, other load)
between the two. The figures are medians over rounds and the ratio is cnn's median over PyTorch's.
Where torch is not installed the PyTorch figures are null and cnn's are still measured.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from cnn.bench import CompiledTrainStep, calls_lasting, time_calls
from cnn.machine import describe
from cnn.suggest import unknown

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")
# model: (input height and width, batch size); channels are the model's own.
CASES = {"lenet5": (28, 256), "resnet20_cifar": (32, 128), "resnet18": (64, 64)}
NUM_CLASSES = 10
WARMUP_STEPS = 3
QUICK_BATCH, QUICK_SECONDS = 32, 0.1
BUSY_LOAD = 0.5  # 1-minute load average above which the figures are not to be trusted


def _torch_models() -> ModuleType | None:
    """`benchmarks.torch_models`, or None where torch is not installed (as in CI)."""
    try:
        from benchmarks import torch_models
    except ImportError:
        return None
    return torch_models


def machine(torch_version: str | None) -> dict:
    """`cnn.machine.describe()` and the torch version (None without torch)."""
    return {**describe(), "torch": torch_version}


def busy_note(setup: dict) -> str:
    """The tables' warning where the machine was busy before the run (load average above BUSY_LOAD), else ''."""
    if setup["load_average"] <= BUSY_LOAD:
        return ""
    return f" Other processes were using the CPU (load average {setup['load_average']:.1f}): noisy figures."


def runner_setup() -> tuple[ModuleType | None, dict]:
    """`benchmarks.torch_models` (None without torch) and the machine, saying on stderr what limits the figures."""
    torch_models = _torch_models()
    if torch_models is None:
        print("torch is not installed: measuring cnn only", file=sys.stderr)
    setup = machine(torch_models.torch.__version__ if torch_models else None)
    if setup["load_average"] > BUSY_LOAD:
        print(f"warning: load average {setup['load_average']:.1f}: other processes are using the CPU, so the "
              "figures will be noisy (PyTorch's most)", file=sys.stderr)
    return torch_models, setup


def _fastest_torch_step(torch_models: ModuleType, model: str, batch_size: int, input_shape: tuple[int, int, int],
                        seconds: float) -> tuple[str, Callable[[], None]]:
    """PyTorch's train step in its faster memory format here, warmed up, and that format's name."""
    timed = []
    for memory_format in torch_models.MEMORY_FORMATS:
        step = torch_models.train_step(model, batch_size, input_shape, NUM_CLASSES, memory_format)
        time_calls(step, WARMUP_STEPS)
        timed.append((time_calls(step, calls_lasting(step, seconds)), memory_format, step))
    _, memory_format, step = min(timed, key=lambda t: t[0])
    return memory_format, step


def compare_case(model: str, input_size: int, batch_size: int, *, rounds: int, seconds: float,
                 torch_models: ModuleType | None) -> dict:
    """Both frameworks' train-step images/s for one model, `rounds` alternating runs of about `seconds` each."""
    cnn_step = CompiledTrainStep(model, batch_size, input_size, num_classes=NUM_CLASSES)
    time_calls(cnn_step, WARMUP_STEPS)
    steps, memory_format = {"cnn": cnn_step}, None
    if torch_models is not None:
        memory_format, steps["PyTorch"] = _fastest_torch_step(torch_models, model, batch_size, cnn_step.input_shape,
                                                              seconds)
    calls = {name: calls_lasting(step, seconds) for name, step in steps.items()}
    figures = {name: [] for name in steps}
    for r in range(1, rounds + 1):
        for name, step in steps.items():
            figures[name].append(batch_size / time_calls(step, calls[name]))
        print(f"  {model} round {r}/{rounds}: "
              + ", ".join(f"{name} {f[-1]:,.0f} images/s" for name, f in figures.items()), flush=True)
    cnn_median = statistics.median(figures["cnn"])
    torch_rounds = figures.get("PyTorch")
    torch_median = statistics.median(torch_rounds) if torch_rounds else None
    return {
        "model": model,
        "input_shape": list(cnn_step.input_shape),
        "batch_size": batch_size,
        "num_classes": NUM_CLASSES,
        "cnn_images_per_s": cnn_median,
        "torch_images_per_s": torch_median,
        "ratio": cnn_median / torch_median if torch_median is not None else None,
        "cnn_rounds": figures["cnn"],
        "torch_rounds": torch_rounds,
        "torch_memory_format": memory_format,
        "cnn_compile_s": cnn_step.compile_s,
    }


def _figures(median: float | None, rounds: list[float] | None) -> str:
    if median is None:
        return "—"
    return f"{median:,.0f} ({min(rounds):,.0f}–{max(rounds):,.0f})"


def format_results(results: dict) -> str:
    """The cases as an aligned terminal table: medians with each round's min–max, and the ratio."""
    header = ("model", "input", "batch", "cnn images/s", "PyTorch images/s", "layout", "cnn/PyTorch")
    rows = [header] + [(
        case["model"], "×".join(map(str, case["input_shape"])), str(case["batch_size"]),
        _figures(case["cnn_images_per_s"], case["cnn_rounds"]),
        _figures(case["torch_images_per_s"], case["torch_rounds"]),
        case["torch_memory_format"] or "—",
        f"{case['ratio']:.2f}" if case["ratio"] is not None else "—",
    ) for case in results["cases"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    memory = f"peak resident memory of the process (both frameworks): {results['peak_rss_mb']:,.0f} MB"
    return "\n".join([*lines, memory])


def read_json(path: str) -> dict | None:
    """The JSON object in `path`, or None where there is no such file yet."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_json(results: dict, path: str) -> None:
    """Writes beside `path`, then renames over it, so a reader never sees half a file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def results_table(path: str = RESULTS) -> str:
    """The Markdown table of the figures in `path` (a `benchmarks.compare` JSON), with a line on the machine."""
    if not os.path.exists(path):
        return "No figures yet: run `.venv/bin/python -m benchmarks.compare` to measure them."
    with open(path) as f:
        results = json.load(f)
    rows = ["| model | input | batch | cnn images/s | PyTorch images/s | cnn / PyTorch |",
            "| --- | --- | ---: | ---: | ---: | ---: |"]
    for case in results["cases"]:
        torch_figure = "—"
        if case["torch_images_per_s"] is not None:
            torch_figure = f"{case['torch_images_per_s']:,.0f} ({case['torch_memory_format']})"
        ratio = f"{case['ratio']:.2f}" if case["ratio"] is not None else "—"
        rows.append(f"| `{case['model']}` | {'×'.join(map(str, case['input_shape']))} | {case['batch_size']} | "
                    f"{case['cnn_images_per_s']:,.0f} | {torch_figure} | {ratio} |")
    m = results["machine"]
    torch_version = f"torch {m['torch']} (eager)" if m["torch"] else "torch not installed"
    notes = (f" A `--quick` smoke run: batch {QUICK_BATCH}, runs of {QUICK_SECONDS} s; not figures to quote."
             if results["quick"] else "")
    notes += busy_note(m)
    rows.append(f"\nMedian of {results['rounds']} alternating rounds, float32, on {m['cpu']} ({m['cores']} cores), "
                f"{m['platform']}, Python {m['python']}, jax {m['jax']}, flax {m['flax']}, {torch_version}; "
                f"{m['date'][:10]}.{notes}")
    return "\n".join(rows)


def parse_runner_args(argv: list[str] | None, *, module: str, doc: str, option: str, choices: Sequence[str],
                      results: str, quick: tuple[int, float]) -> argparse.Namespace:
    """The command line the benchmark runners share: --<option> (comma-separated names out of `choices`, all
    by default; a list on the namespace), --rounds, --json (default `results`, none with --quick), --quick
    (batch and seconds per run `quick`)."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n\n")[0])
    parser.add_argument(f"--{option}", default=",".join(choices),
                        help=f"comma-separated, of {', '.join(choices)} (default: all)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating timed rounds (default 7)")
    parser.add_argument("--json", default=None,
                        help=f"where to write the results (default {os.path.relpath(results)}; with --quick, nowhere)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: batch {quick[0]}, runs of {quick[1]} s; figures not meaningful")
    args = parser.parse_args(argv)
    names = [name.strip() for name in getattr(args, option).split(",") if name.strip()]
    for name in names:
        if name not in choices:
            parser.error(f"--{option}: {unknown(option.rstrip('s'), name, choices)}")
    setattr(args, option, names)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.json is None and not args.quick:
        args.json = results
    return args


def main(argv: list[str] | None = None) -> dict:
    """Runs the comparison the command line asks for, prints it, writes its JSON and returns it."""
    args = parse_runner_args(argv, module="benchmarks.compare", doc=__doc__, option="models", choices=list(CASES),
                             results=RESULTS, quick=(QUICK_BATCH, QUICK_SECONDS))
    torch_models, setup = runner_setup()
    seconds = QUICK_SECONDS if args.quick else 1.0
    cases = []
    for model in args.models:
        input_size, batch_size = CASES[model]
        print(f"{model}: compiling cnn's step, warming up both", flush=True)
        cases.append(compare_case(model, input_size, QUICK_BATCH if args.quick else batch_size, rounds=args.rounds,
                                  seconds=seconds, torch_models=torch_models))
    results = {
        "machine": setup,
        "rounds": args.rounds,
        "quick": args.quick,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "cases": cases,
    }
    print(format_results(results))
    if args.json:
        write_json(results, args.json)
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
