"""Where fine-tuning starts: a finished run's workdir, or weights imported from Keras or torchvision.

`config.transfer.source` is one of
  a workdir             a run trained by cnn (its `config.transfer.checkpoint`: best, latest or a step)
  FILE.keras / FILE.h5  a whole Keras model (architecture and weights, `model.save(...)`), e.g. a Keras
                        Applications network saved once with weights="imagenet"; imported into the zoo
                        model `config.model.name` (with the overrides in config.model) by `import_keras`
  FILE.pth / FILE.pt    a torchvision `state_dict()` saved with torch.save (needs torch to read)
  FILE.npz              the same state dict as numpy arrays (`numpy.savez(FILE, **state_dict)`); no torch needed

Imported weights see the target images normalised by the target's own statistics, not the source's
preprocessing (Keras's caffe/torch/tf modes): fine-tuning adapts to the difference, a frozen
first layer does not.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnn import keys
from cnn.config import ConfigError
from cnn.models import create


@dataclasses.dataclass
class Source:
    description: str  # for messages and tables: what the weights are
    model: nn.Module  # the zoo model with the source's class count
    variables: dict[str, Any]  # {"params": ..., "batch_stats": ...} as `model.apply` takes them
    input_shape: tuple[int, ...] | None  # what it was trained on, where known


def _overrides(model: ml_collections.ConfigDict) -> dict:
    return {k: v for k, v in model.items() if k != "name"}


def _from_run(workdir: str, checkpoint: str, model: ml_collections.ConfigDict) -> Source:
    from cnn.train.trained import load_trained  # cnn.train builds fine-tuning runs through this module

    trained = load_trained(workdir, checkpoint)
    name = trained.config.model.name
    if model.name != name:
        raise ConfigError(f"config.model.name is {model.name!r} but the source {workdir} trained {name!r}; "
                          f"set --config.model.name={name}")
    return Source(f"{name} trained on {trained.dataset.name}", trained.model, trained.variables,
                  tuple(trained.dataset.image_shape))


def _from_keras(path: str, model: ml_collections.ConfigDict) -> Source:
    os.environ.setdefault("KERAS_BACKEND", "jax")  # read once, when keras is first imported
    try:
        import keras
    except ImportError:
        raise ConfigError(f"{path} is a Keras model file; reading it needs Keras: pip install keras") from None
    from cnn.transfer.keras import import_keras

    keras_model = keras.saving.load_model(path, compile=False)
    try:
        variables = import_keras(keras_model, model.name, **_overrides(model))
    except ValueError as e:
        raise ConfigError(f"{path} does not fit config.model ({model.name}): {e}") from None
    classes = int(keras_model.output_shape[-1])
    return Source(f"{keras_model.name} from {os.path.basename(path)}",
                  create(model.name, num_classes=classes, **_overrides(model)), variables,
                  tuple(keras_model.input_shape[1:]))


def _state_dict(path: str) -> dict[str, Any]:
    if path.endswith(".npz"):
        with np.load(path) as arrays:
            return {key: arrays[key] for key in arrays.files}
    try:
        import torch
    except ImportError:
        raise ConfigError(f"{path} is a torch file; reading it needs torch (or save the state dict as .npz: "
                          "numpy.savez(FILE, **{k: v.numpy() for k, v in state_dict.items()}))") from None
    return dict(torch.load(path, map_location="cpu", weights_only=True))


def _from_torchvision(path: str, model: ml_collections.ConfigDict) -> Source:
    from cnn.transfer.torchvision import import_torchvision, state_dict_classes

    state_dict = _state_dict(path)
    try:
        classes = state_dict_classes(state_dict, model.name)
        variables = import_torchvision(state_dict, model.name, num_classes=classes, **_overrides(model))
    except ValueError as e:
        raise ConfigError(f"{path} does not fit config.model ({model.name}): {e}") from None
    return Source(f"{model.name} weights from {os.path.basename(path)}",
                  create(model.name, num_classes=classes, **_overrides(model)), variables, None)


def load_source(transfer: ml_collections.ConfigDict, model: ml_collections.ConfigDict) -> Source:
    """The source `transfer.source` names (see the module docstring); ConfigError saying what is wrong."""
    path = transfer.source
    if os.path.isdir(path):
        return _from_run(path, transfer.get("checkpoint", "best"), model)
    if not os.path.isfile(path):
        raise ConfigError(f"config.transfer.source {path!r} is neither a run's workdir nor a weights file")
    if path.endswith((".keras", ".h5")):
        return _from_keras(path, model)
    if path.endswith((".pth", ".pt", ".npz")):
        return _from_torchvision(path, model)
    raise ConfigError(f"config.transfer.source {path!r}: weights files are .keras or .h5 (Keras models), .pth or "
                      ".pt (torch state dicts) or .npz (state dicts as numpy arrays)")


def random_variables(source: Source, input_shape: tuple[int, ...], seed: int = 0) -> dict[str, Any]:
    """The source's network freshly initialised: the baseline of the linear probes."""
    x = jnp.zeros((1, *input_shape), jnp.float32)
    return jax.jit(lambda key: source.model.init(key, x, train=False))(keys.key(seed))

