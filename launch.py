r"""The one entry point: parses flags and calls one library function per mode.

    python launch.py train --config experiments/fashion_mnist/lenet5.py --workdir runs/lenet5 \
        [--config.optimizer.learning_rate=0.05 ...]
    python launch.py eval --config experiments/fashion_mnist/lenet5.py --workdir runs/lenet5 \
        [--checkpoint=latest|best|STEP]
    python launch.py curves --workdir runs/lenet5
    python launch.py bench --model lenet5 --batch-size 256 [--input-size 32] [--compute-dtype bfloat16] [--json]
    python launch.py summary --model resnet50 [--input-size 224] [--depth 2] [--json]

Exit codes: 0 done (or stopped by SIGTERM after checkpointing), 1 an error the message explains,
130 stopped by ctrl-C (SIGINT) after checkpointing.
"""

from __future__ import annotations

import json
import signal
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from cnn.config import ConfigError, check_overrides

MODES = ("train", "eval", "curves", "bench", "summary")

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file, path[:arg].", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for config.json, metrics.jsonl and checkpoints.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "latest", "eval: which checkpoint, latest, best or a step number.")
_MODEL = flags.DEFINE_string("model", None, "bench, summary: the model's registered name.")
_BATCH_SIZE = flags.DEFINE_integer("batch-size", 256, "bench: global batch size.", lower_bound=1)
_INPUT_SIZE = flags.DEFINE_integer("input-size", None,
                                   "bench, summary: input height and width (default: the model's).", lower_bound=1)
_COMPUTE_DTYPE = flags.DEFINE_enum("compute-dtype", "float32", ["float32", "bfloat16"], "bench: compute precision.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "bench: timed runs; the median is reported.", lower_bound=1)
_JSON = flags.DEFINE_bool("json", False, "bench, summary: print JSON instead of a table (summary: one object per line).")
_DEPTH = flags.DEFINE_integer("depth", 1, "summary: list modules down to this many levels below the model.",
                              lower_bound=1)


def _parse_flags(argv: list[str]) -> list[str]:
    try:
        check_overrides(argv)
    except ConfigError as e:
        sys.exit(f"error: {e}")
    return flags.FLAGS(argv)


def _print_metrics(prefix: str, result: dict) -> None:
    print(f"{prefix}top1 {result['top1']:.4f} top5 {result['top5']:.4f} loss {result['loss']:.4f} "
          f"over {result['count']} images")


def _bench() -> None:
    from cnn.bench import benchmark, format_table

    try:
        result = benchmark(_MODEL.value, _BATCH_SIZE.value, _INPUT_SIZE.value, compute_dtype=_COMPUTE_DTYPE.value,
                           repeats=_REPEATS.value)
    except ValueError as e:  # an unknown model, or a batch the devices do not divide
        sys.exit(f"error: {e}")
    print(json.dumps(result) if _JSON.value else format_table(result))


def _summary() -> None:
    from cnn.analysis import format_summary, summarize, summary_json

    try:
        summary = summarize(_MODEL.value, _INPUT_SIZE.value, depth=_DEPTH.value)
    except ValueError as e:  # an unknown model, or an input size the architecture cannot take
        sys.exit(f"error: {e}")
    print("\n".join(map(json.dumps, summary_json(summary))) if _JSON.value else format_summary(summary))


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in MODES:
        raise app.UsageError(f"give exactly one mode, one of {', '.join(MODES)}; got {argv[1:]}")
    mode = argv[1]
    if mode in ("bench", "summary"):
        if _MODEL.value is None:
            raise app.UsageError(f"{mode} needs --model NAME")
        if mode == "summary":
            return _summary()
    elif _WORKDIR.value is None or (_CONFIG.value is None and mode != "curves"):
        raise app.UsageError("--workdir is required, and --config for train and eval")
    if not flags.FLAGS["verbosity"].present:
        # absl logs INFO by default, which buries the progress bar under library chatter; -v 0 restores it.
        logging.set_verbosity(logging.WARNING)
    # Imported here so that --help and flag errors stay fast.
    from cnn.data import DatasetError
    from cnn.train import CheckpointError, NonFiniteLossError, RunInterrupted, evaluate_checkpoint, train_and_evaluate
    from cnn.viz import write_curves

    try:
        if mode == "train":
            _print_metrics("test ", train_and_evaluate(_CONFIG.value, _WORKDIR.value))
        elif mode == "eval":
            result = evaluate_checkpoint(_CONFIG.value, _WORKDIR.value, _CHECKPOINT.value)
            _print_metrics(f"checkpoint {_CHECKPOINT.value} (step {result['step']}): test ", result)
        elif mode == "bench":
            _bench()
        elif (path := write_curves(_WORKDIR.value)) is None:
            sys.exit(f"error: no metrics in {_WORKDIR.value}/metrics.jsonl yet; train first (launch.py train)")
        else:
            print(f"wrote {path}")
    except RunInterrupted as e:
        print(e)
        sys.exit(130 if e.signum == signal.SIGINT else 0)
    except (ConfigError, DatasetError, CheckpointError, NonFiniteLossError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
