r"""The transfer study behind the README's tables: from scratch vs all vs freeze vs fade, and linear probes.

    python experiments/transfer/study.py [--sources lenet5,resnet20] [--root runs/transfer] [--seeds 3]

For each source model, trains the source (experiments/transfer/<source>_source.py: the model on
Fashion-MNIST classes 0-4), fine-tunes it on each target of experiments/transfer/<source>.py with
each strategy and seed, probes the source's layers on each target, and records it all in
experiments/transfer/results.json (other sources' entries are kept), from which
`experiments/tables.py --write` renders the README. Workdirs under --root are reused: a finished
run is only re-evaluated (its time is the one recorded when it trained), so a rerun after an interruption
continues where it stopped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # benchmarks/ is a folder of scripts beside the package

from benchmarks.compare import machine, read_json, write_json  # noqa: E402
from cnn.config import load_config  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results.json")
SOURCES = {"lenet5": "LeNet-5", "resnet20": "ResNet-20"}
TARGETS = ("digits", "fashion10", "fashion100")
STRATEGIES = ("scratch", "all", "freeze", "fade")
TARGET_NAMES = {"digits": "scikit-learn digits (898 training images)",
                "fashion10": "Fashion-MNIST 5-9, 10 per class", "fashion100": "Fashion-MNIST 5-9, 100 per class"}


def _timed(config, workdir: str) -> tuple[dict, float | None]:
    """The run's final test metrics and its wall time, None when `workdir` already held it (only re-evaluated)."""
    from cnn.train import train_and_evaluate

    fresh = not os.path.exists(os.path.join(workdir, "checkpoints"))
    start = time.perf_counter()
    result = train_and_evaluate(config, workdir)
    return result, round(time.perf_counter() - start, 1) if fresh else None


def run_study(source: str, root: str, seeds: Sequence[int], earlier: dict | None = None) -> dict:
    """Every run of `source`'s study (reusing finished workdirs under `root`) and its probes, as JSON. A reused
    run keeps the wall time `earlier` (the study's previous JSON) recorded when it was trained, if any."""
    from cnn.transfer.source_probes import probe_source

    earlier = earlier or {"source": {}, "runs": []}
    timed = {(r["target"], r["strategy"], r["seed"]): r["seconds"] for r in earlier["runs"]}

    source_config, target_config = os.path.join(HERE, f"{source}_source.py"), os.path.join(HERE, f"{source}.py")
    source_dir = os.path.join(root, f"{source}_source")
    trained, source_seconds = _timed(load_config(source_config), source_dir)
    if source_seconds is None:
        source_seconds = earlier["source"].get("seconds")
    runs, probes = [], {}
    for target in TARGETS:
        for strategy in STRATEGIES:
            for seed in seeds:
                config = load_config(f"{target_config}:{target}")
                config.seed = seed  # also draws the few-shot subset (dataset.subset_seed refers to it)
                config.transfer.source, config.transfer.strategy = source_dir, strategy
                result, seconds = _timed(config, os.path.join(root, f"{source}_{target}", strategy, f"seed{seed}"))
                if seconds is None:
                    seconds = timed.get((target, strategy, seed))
                runs.append({"target": target, "strategy": strategy, "seed": seed, "top1": result["top1"],
                             "seconds": seconds})
        config = load_config(f"{target_config}:{target}")
        config.transfer.source = source_dir
        probes[target] = probe_source(config).rows()
    return {"source": {"config": os.path.relpath(source_config, ROOT), "top1": trained["top1"],
                       "seconds": source_seconds},
            "target_config": os.path.relpath(target_config, ROOT), "runs": runs, "probes": probes,
            "machine": machine(None)}


def strategies_table(path: str = RESULTS) -> str:
    """Test top-1 (mean ± std over seeds) per source, target and strategy, from the study's JSON."""
    results = read_json(path)
    if not results:
        return "No transfer results yet: run `python experiments/transfer/study.py`."
    lines = ["| source | target | " + " | ".join(STRATEGIES) + " |", "| --- | --- |" + " ---: |" * len(STRATEGIES)]
    verdicts, timings = [], []
    for source, study in results.items():
        for target in TARGETS:
            top1 = {s: [100 * r["top1"] for r in study["runs"] if (r["target"], r["strategy"]) == (target, s)]
                    for s in STRATEGIES}
            lines.append(f"| {SOURCES[source]} | {TARGET_NAMES[target]} | "
                         + " | ".join(f"{statistics.mean(v):.1f} ± {statistics.stdev(v):.1f}" for v in top1.values())
                         + " |")
            verdicts.append(_verdict(SOURCES[source], target, top1))
        timings.append(_timing(SOURCES[source], study))
    return "\n".join([*lines, "", "Test top-1 in %, mean ± standard deviation over the seeds below (each also "
                       "redraws the few-shot images).", "", *verdicts, "", *timings])


def _verdict(source: str, target: str, top1: dict[str, list[float]]) -> str:
    best = max(STRATEGIES[1:], key=lambda s: statistics.mean(top1[s]))
    gain = statistics.mean(top1[best]) - statistics.mean(top1["scratch"])
    spread = max(statistics.stdev(top1[best]), statistics.stdev(top1["scratch"]))
    verdict = "more than" if abs(gain) > 2 * spread else "within"
    return (f"- {source}, {TARGET_NAMES[target]}: the best start from the source (`{best}`) is {gain:+.1f} points "
            f"from scratch, {verdict} twice the larger seed spread ({spread:.1f}).")


def _timing(source: str, study: dict) -> str:
    trained, where = study["source"], study["machine"]
    seconds = [r["seconds"] for r in study["runs"] if r["seconds"] is not None]
    when = (f"in {trained['seconds']:.0f} s" if trained["seconds"] is not None
            else "(trained by an earlier invocation, not timed)")
    runs = (f"each of its {len(seconds)} fine-tuning runs timed took {min(seconds):.0f}-{max(seconds):.0f} s, start-up "
            "and compilation included," if seconds else "its fine-tuning runs were reused, not timed,")
    seeds = ", ".join(map(str, sorted({r["seed"] for r in study["runs"]})))
    return (f"{source}, seeds {seeds}: the source (`{trained['config']}`) reached {100 * trained['top1']:.1f}% on its own five classes "
            f"{when}; {runs} on {where['cpu']} ({where['cores']} cores), {where['date'][:10]}.")


def probes_table(path: str = RESULTS) -> str:
    """Per-layer linear-probe accuracies on each target, each source's trained weights against random ones."""
    results = read_json(path)
    if not results:
        return "No probe results yet: run `python experiments/transfer/study.py`."
    short = {t: TARGET_NAMES[t].split(" (")[0] for t in TARGETS}
    lines = ["| source | layer | features | " + " | ".join(f"{short[t]}: trained / random" for t in TARGETS) + " |",
             "| --- | --- | ---: |" + " ---: |" * len(TARGETS)]
    best_svm = []
    for source, study in results.items():
        probes = study["probes"]
        for i, row in enumerate(probes[TARGETS[0]]):
            cells = [f"{100 * probes[t][i]['softmax_top1']:.1f} / {100 * probes[t][i]['random_softmax_top1']:.1f}"
                     for t in TARGETS]
            lines.append(f"| {SOURCES[source]} | {row['tap']} | {row['features']} | " + " | ".join(cells) + " |")
        best_svm.append(f"{SOURCES[source]}: " + ", ".join(
            f"{short[t]} {100 * max(r['svm_top1'] for r in probes[t]):.1f}" for t in TARGETS))
    return "\n".join([*lines, "", "Softmax-regression probes, test top-1 in %. The linear SVM's best layer per target, "
                       "trained weights: " + "; ".join(best_svm) + " (every figure is in "
                       "experiments/transfer/results.json)."])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated, of " + ", ".join(SOURCES))
    parser.add_argument("--root", default=os.path.join(ROOT, "runs", "transfer"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", default=RESULTS)
    args = parser.parse_args(argv)
    sources = args.sources.split(",")
    if unknown := [s for s in sources if s not in SOURCES]:
        parser.error(f"unknown sources {unknown}; use {', '.join(SOURCES)}")
    from cnn import compile_cache

    compile_cache.enable()
    results = read_json(args.json) or {}
    for source in sources:
        results[source] = run_study(source, args.root, range(args.seeds), results.get(source))
        write_json({name: results[name] for name in SOURCES if name in results}, args.json)
    print(strategies_table(args.json), probes_table(args.json), sep="\n\n")


if __name__ == "__main__":
    main()
