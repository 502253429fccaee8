import os

import jax
import numpy as np
import optax
import pytest
import scipy.special

import cnn.models
from cnn.config import ConfigError, load_config
from cnn.data import Dataset, Split, augment
from cnn.train import create_train_state, train_step
from cnn.train.compiled import compile_steps, train_input
from cnn.train.sharding import make_mesh, put_batch, replicate

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "fashion_mnist", "lenet5.py")


def _state():
    model = cnn.models.create("lenet5", num_classes=10)
    return create_train_state(model, optax.sgd(0.1), jax.random.key(0), (28, 28, 1))


def _batch(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return {"image": rng.integers(0, 256, (n, 28, 28, 1)).astype(np.uint8),
            "label": rng.integers(0, 10, n).astype(np.int32), "mask": np.ones(n, np.float32)}


def _dataset(mean=0.3, std=0.2):
    dummy = Split(np.zeros((1, 28, 28, 1), np.uint8), np.zeros(1, np.int32))
    return Dataset("dummy", dummy, dummy, 10, tuple(map(str, range(10))), (mean,), (std,))


def test_label_smoothing_loss_by_hand():
    state, batch = _state(), _batch()
    images = batch["image"].astype(np.float32)
    logits, _ = state.apply_fn({"params": state.params}, images)
    logp = scipy.special.log_softmax(np.asarray(logits, np.float64), axis=1)
    a, k = 0.1, 10
    expected = -((1 - a) * logp[np.arange(12), batch["label"]] + a / k * logp.sum(axis=1)).mean()
    _, metrics = train_step(state, {**batch, "image": images}, jax.random.key(1), label_smoothing=a)
    assert float(metrics["loss"]) == pytest.approx(expected, rel=1e-5)
    _, plain = train_step(state, {**batch, "image": images}, jax.random.key(1))
    assert float(plain["loss"]) == pytest.approx(-logp[np.arange(12), batch["label"]].mean(), rel=1e-5)


def test_uint8_batches_are_normalised_on_device_by_the_dataset_statistics():
    config, mesh = load_config(CONFIG), make_mesh()
    _, eval_fn = compile_steps(config, _dataset(), mesh)
    state, batch = replicate(_state(), mesh), _batch()
    on_device = eval_fn(state, put_batch(batch, mesh))
    host = {**batch, "image": ((batch["image"] / 255.0 - 0.3) / 0.2).astype(np.float32)}
    on_host = eval_fn(state, put_batch(host, mesh))
    for key in on_host:
        assert float(on_device[key]) == pytest.approx(float(on_host[key]), rel=1e-5)


def test_training_input_is_augmented_as_a_function_of_seed_and_step():
    config = load_config(CONFIG)
    config.augment.crop_padding, config.augment.flip = 2, True
    prepare = jax.jit(train_input(config, _dataset()))
    images, labels = _batch()["image"], _batch()["label"]
    a, b, c = (np.asarray(prepare(images, step, labels)[0]) for step in (5, 5, 6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    normalised = (images / 255.0 - 0.3) / 0.2
    expected = augment.augment(augment.augmentation_key(config.seed, 5), normalised.astype(np.float32), config.augment)
    np.testing.assert_allclose(a, expected, rtol=1e-6, atol=1e-6)
    config.augment.crop_padding, config.augment.flip = 0, False
    unchanged, targets = train_input(config, _dataset())(images, 5, labels)
    np.testing.assert_allclose(np.asarray(unchanged), normalised, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(targets, labels)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("compute_dtype", "float16", "config.compute_dtype 'float16': use one of float32, bfloat16"),
    ("label_smoothing", 1.0, r"config.label_smoothing 1.0 must lie in \[0, 1\)"),
])
def test_bad_step_options_are_refused(key, value, message):
    config = load_config(CONFIG)
    config[key] = value
    with pytest.raises(ConfigError, match=message):
        compile_steps(config, _dataset(), make_mesh())
