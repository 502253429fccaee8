r"""The one entry point: parses flags and calls one library function per mode.

    python launch.py train --config experiments/fashion_mnist/lenet5.py --workdir runs/lenet5 \
        [--config.optimizer.learning_rate=0.05 ...]
    python launch.py eval --config experiments/fashion_mnist/lenet5.py --workdir runs/lenet5 \
        [--checkpoint=latest|best|STEP]
    python launch.py curves --workdir runs/lenet5

Exit codes: 0 done (or stopped by SIGTERM after checkpointing), 1 an error the message explains,
130 stopped by ctrl-C (SIGINT) after checkpointing.
"""

from __future__ import annotations

import signal
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from cnn.config import ConfigError, check_overrides

MODES = ("train", "eval", "curves")

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file, path[:arg].", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for config.json, metrics.jsonl and checkpoints.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "latest", "eval: which checkpoint, latest, best or a step number.")


def _parse_flags(argv: list[str]) -> list[str]:
    try:
        check_overrides(argv)
    except ConfigError as e:
        sys.exit(f"error: {e}")
    return flags.FLAGS(argv)


def _print_metrics(prefix: str, result: dict) -> None:
    print(f"{prefix}top1 {result['top1']:.4f} top5 {result['top5']:.4f} loss {result['loss']:.4f} "
          f"over {result['count']} images")


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in MODES:
        raise app.UsageError(f"give exactly one mode, one of {', '.join(MODES)}; got {argv[1:]}")
    mode = argv[1]
    if _WORKDIR.value is None or (_CONFIG.value is None and mode != "curves"):
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
