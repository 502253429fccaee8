"""Fine-tuning from imported weights: a Keras model file and a torchvision state dict saved as .npz."""

import os

import jax
import numpy as np
import pytest

from cnn.config import ConfigError
from cnn.train import train_and_evaluate
from cnn.train.trained import load_trained
from cnn.transfer.sources import load_source
from experiments.transfer.targets import fine_tune_config
from tests.transfer.test_torchvision import TINY_VGG, bn_shapes, random_state

# vgg11_bn narrowed to 4 and 6 channels, pooled to 2×2, 5 hidden units: a whole VGG in a few kilobytes.
MODEL = {"name": "vgg11_bn", "kernels": TINY_VGG["kernels"], "widths": TINY_VGG["widths"],
         "pool_size": TINY_VGG["pool_size"], "hidden": TINY_VGG["hidden"]}


def _config(source: str, **transfer):
    """Fine-tuning the tiny VGG on 8×8 RGB synthetic images of 4 classes for 3 steps."""
    config = fine_tune_config("vgg11_bn", "digits", cut="fc6", freeze_until="stage1")
    with config.unlocked():
        config.model.update({k: v for k, v in MODEL.items() if k != "name"})
    config.dataset.name, config.dataset.image_size = "synthetic:8x8x3:4", 0
    config.batch_size, config.num_train_steps = 8, 3
    config.eval_every_steps = config.checkpoint_every_steps = 3
    config.transfer.source = source
    config.transfer.update(transfer)
    return config


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    """A Keras model with the tiny VGG's layers (BN ε as ours), random weights, saved whole as .keras."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    layers = keras.layers
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        layers.Conv2D(4, 3, padding="same"), layers.BatchNormalization(epsilon=1e-5), layers.ReLU(),
        layers.MaxPooling2D(2),
        layers.Conv2D(6, 3, padding="same"), layers.BatchNormalization(epsilon=1e-5), layers.ReLU(),
        layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(5, activation="relu"), layers.Dense(5, activation="relu"), layers.Dense(3),
    ], name="tiny_vgg")
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in model.get_weights()])
    path = str(tmp_path_factory.mktemp("keras") / "tiny_vgg.keras")
    model.save(path)
    return path, {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in model.layers}


def test_a_keras_file_is_read_into_the_configured_model(keras_file):
    path, weights = keras_file
    source = load_source(_config(path).transfer, _config(path).model)
    params, stats = source.variables["params"], source.variables["batch_stats"]
    conv, bn, *_ = [w for name, w in weights.items() if w]
    np.testing.assert_array_equal(params["conv1_1"]["kernel"], conv[0])  # Keras's (kh, kw, in, out) is ours
    np.testing.assert_array_equal(params["bn1_1"]["scale"], bn[0])  # γ, β, moving mean, moving variance
    np.testing.assert_array_equal(stats["bn1_1"]["var"], bn[3])
    np.testing.assert_array_equal(params["fc8"]["kernel"], list(weights.values())[-1][0])
    assert source.input_shape == (8, 8, 3) and "tiny_vgg" in source.description


def test_fine_tuning_from_a_keras_file_holds_the_frozen_stage_at_keras_values(keras_file, tmp_path):
    path, _ = keras_file
    source = load_source(_config(path).transfer, _config(path).model)
    result = train_and_evaluate(_config(path, strategy="freeze"), str(tmp_path))
    assert result["count"] > 0 and np.isfinite(result["loss"])
    tuned = load_trained(str(tmp_path)).variables
    for collection, layer in (("params", "conv1_1"), ("params", "bn1_1"), ("batch_stats", "bn1_1")):
        same = jax.tree.map(np.array_equal, tuned[collection]["backbone"][layer], source.variables[collection][layer])
        assert jax.tree.all(same), (collection, layer)  # frozen: weights and BatchNorm statistics unchanged
    assert not np.array_equal(tuned["params"]["backbone"]["conv2_1"]["kernel"],
                              source.variables["params"]["conv2_1"]["kernel"])
    assert tuned["params"]["head"]["kernel"].shape == (5, 4)


def test_a_torchvision_state_dict_as_npz_is_read_with_torch_layouts(tmp_path):
    shapes = {"features.0.weight": (4, 3, 3, 3), "features.0.bias": (4,), **bn_shapes("features.1", 4),
              "features.4.weight": (6, 4, 3, 3), "features.4.bias": (6,), **bn_shapes("features.5", 6),
              "classifier.0.weight": (5, 24), "classifier.0.bias": (5,), "classifier.3.weight": (5, 5),
              "classifier.3.bias": (5,), "classifier.6.weight": (3, 5), "classifier.6.bias": (3,)}
    state = random_state(shapes)
    path = str(tmp_path / "tiny_vgg.npz")
    np.savez(path, **state)
    source = load_source(_config(path).transfer, _config(path).model)
    params = source.variables["params"]
    np.testing.assert_array_equal(params["conv1_1"]["kernel"], state["features.0.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(params["fc8"]["kernel"], state["classifier.6.weight"].T)
    assert source.input_shape is None


def test_a_source_that_is_no_run_and_no_weights_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="neither a run's workdir nor a weights file"):
        load_source(_config(str(tmp_path / "absent")).transfer, _config("").model)
    other = tmp_path / "weights.txt"
    other.write_text("")
    with pytest.raises(ConfigError, match=r"weights files are .keras or .h5 .* or .npz"):
        load_source(_config(str(other)).transfer, _config("").model)
