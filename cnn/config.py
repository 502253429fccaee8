"""Config files and command-line overrides.

Overrides (`--config.optimizer.learning_rate=0.05`) are checked against the config file
before any work starts, so a misspelled key fails at once, naming the nearest valid key.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence

import ml_collections

from cnn.suggest import unknown


class ConfigError(ValueError):
    """A config file or an override is wrong; the message names the key or file and the fix."""


def load_config(spec: str) -> ml_collections.ConfigDict:
    """Loads `path[:arg]`, calling the file's `get_config(arg)` (or `get_config()` without arg)."""
    path, _, arg = spec.partition(":")
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path!r} not found")
    module_spec = importlib.util.spec_from_file_location("_cnn_config", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ConfigError(f"config file {path!r} defines no get_config()")
    return module.get_config(arg) if arg else module.get_config()


def flat_keys(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    """Every dotted key path of `config`, nested dicts included."""
    keys = []
    for name, value in config.items():
        key = prefix + name
        keys.append(key)
        if isinstance(value, ml_collections.ConfigDict):
            keys.extend(flat_keys(value, key + "."))
    return keys


def _config_spec(argv: Sequence[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{flag}="):
            return arg.split("=", 1)[1]
        if arg == f"--{flag}" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def check_overrides(argv: Sequence[str], flag: str = "config") -> None:
    """Raises ConfigError for any `--<flag>.key` in `argv` that the config file does not define."""
    overrides = [a[len(flag) + 3 :].split("=", 1)[0] for a in argv if a.startswith(f"--{flag}.")]
    spec = _config_spec(argv, flag)
    if not overrides or spec is None:
        return
    keys = flat_keys(load_config(spec))
    for key in overrides:
        if key not in keys:
            raise ConfigError(f"{unknown('config key', key, keys)} (--{flag}.{key}, for {spec})")


# Keys that change how a run is logged or saved, not what it computes: they may differ on resume.
BOOKKEEPING_KEYS = frozenset({
    "log_every_steps", "eval_every_steps", "checkpoint_every_steps", "keep_checkpoints",
    "keep_best_checkpoints", "keep_checkpoint_epochs", "dataset.data_dir",
    # A run may resume on another device count: the global batch is the same, so the computation is
    # too, up to the order of floating-point sums.
    "mesh.data",
})


# Keys added after runs were saved without them, with the value that meant what those runs did:
# such a run resumes under a config that sets the key to this value.
IMPLIED_BY_ABSENCE = {"nonfinite": "stop", "augment.rotate": 0.0, "augment.brightness": 0.0, "augment.contrast": 0.0,
                      "augment.pca_lighting": 0.0, "augment.cutout": 0, "augment.mixup": 0.0}


def _flat_values(tree: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat_values(value, f"{prefix}{name}."))
        else:
            flat[prefix + name] = value
    return flat


def as_json(config: ml_collections.ConfigDict) -> str:
    return config.to_json_best_effort(indent=2, sort_keys=True) + "\n"


def run_changing_differences(saved_json: str, config: ml_collections.ConfigDict) -> list[str]:
    """`key: saved -> new` for every key outside BOOKKEEPING_KEYS where `config` differs from `saved_json`."""
    saved, new = _flat_values(json.loads(saved_json)), _flat_values(json.loads(as_json(config)))
    saved = {**{k: v for k, v in IMPLIED_BY_ABSENCE.items() if k in new}, **saved}

    def show(flat: dict, key: str) -> str:
        return repr(flat[key]) if key in flat else "(absent)"

    return [f"{key}: {show(saved, key)} -> {show(new, key)}" for key in sorted(saved.keys() | new.keys())
            if key not in BOOKKEEPING_KEYS and (key in saved, saved.get(key)) != (key in new, new.get(key))]
