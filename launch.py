r"""The one entry point: parses flags and calls one library function per mode.

    python launch.py train --config experiments/fashion_mnist/lenet5.py --workdir runs/lenet5 \
        [--config.optimizer.learning_rate=0.05 ...]
"""

from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from cnn.config import ConfigError, check_overrides

MODES = ("train",)

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file, path[:arg].", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for config.json, metrics.jsonl and checkpoints.")


def _parse_flags(argv: list[str]) -> list[str]:
    try:
        check_overrides(argv)
    except ConfigError as e:
        sys.exit(f"error: {e}")
    return flags.FLAGS(argv)


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in MODES:
        raise app.UsageError(f"give exactly one mode, one of {', '.join(MODES)}; got {argv[1:]}")
    if _CONFIG.value is None or _WORKDIR.value is None:
        raise app.UsageError("--config and --workdir are required")
    if not flags.FLAGS["verbosity"].present:
        # absl logs INFO by default, which buries the progress bar under library chatter; -v 0 restores it.
        logging.set_verbosity(logging.WARNING)
    # Imported here so that --help and flag errors stay fast.
    from cnn.data import DatasetError
    from cnn.train import train_and_evaluate

    try:
        result = train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    except (ConfigError, DatasetError) as e:
        sys.exit(f"error: {e}")
    print(f"test top1 {result['top1']:.4f} top5 {result['top5']:.4f} loss {result['loss']:.4f} "
          f"over {result['count']} images")


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
