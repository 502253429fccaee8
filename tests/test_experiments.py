"""Every experiment config states its command and its target, and builds the model it names."""

import ast
import glob
import os
import re

import jax
import jax.numpy as jnp
import pytest

import cnn.models
from cnn.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _is_config(path: str) -> bool:
    with open(path) as f:
        return "\ndef get_config(" in f.read()  # beside the configs: helpers and study scripts


CONFIGS = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "experiments", "*", "*.py"))
                 if _is_config(p))
# The stored image shape of each dataset, for configs that use images as stored (image_size 0).
STORED = {"fashion_mnist": (28, 28, 1), "tfds:cifar10": (32, 32, 3), "synthetic:224x224x23:101": (224, 224, 23)}


def _input_shape(config) -> tuple[int, int, int]:
    if config.dataset.image_size:
        return (config.dataset.image_size, config.dataset.image_size, 3)
    return STORED[config.dataset.name]


@pytest.mark.parametrize("path", CONFIGS)
def test_docstring_gives_the_command_the_published_number_and_the_measured_one(path):
    with open(os.path.join(ROOT, path)) as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    assert re.search(rf"--config {re.escape(path)}(:\S+)? ", doc), f"{path}: its docstring must show the command that runs it"
    assert "Published:" in doc and "Measured" in doc, f"{path}: say what the paper reports and what cnn measured"


@pytest.mark.parametrize("path", CONFIGS)
def test_the_model_builds_and_differentiates_at_the_dataset_input(path):
    config = load_config(os.path.join(ROOT, path))
    overrides = {k: v for k, v in config.model.items() if k != "name"}
    model = cnn.models.create(config.model.name, num_classes=10, **overrides)
    x = jax.ShapeDtypeStruct((2, *_input_shape(config)), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)

    def loss(params, rest, x):
        (logits, _), _ = model.apply({**rest, "params": params}, x, train=True, mutable=["batch_stats"],
                                     rngs={"dropout": jax.random.key(1)})
        return logits.sum()

    rest = {k: v for k, v in variables.items() if k != "params"}
    grads = jax.eval_shape(jax.grad(loss), variables["params"], rest, x)
    assert jax.tree.structure(grads) == jax.tree.structure(variables["params"])

