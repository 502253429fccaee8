"""AlexNet (torchvision's, the 2012 paper's and its 28×28 small form) and ZFNet: parameter counts written out layer by layer,
the papers' map sizes, Keras rebuilds of each computing the same logits, and gradients."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import cnn.models
from zoo_testing import conv, count, dense
from cnn.transfer.keras import import_keras




CLASSIFIER = dense(6 * 6 * 256, 4096) + dense(4096, 4096) + dense(4096, 1000)
HAND_COUNTS = {
    "alexnet": conv(11, 3, 64) + conv(5, 64, 192) + conv(3, 192, 384) + conv(3, 384, 256) + conv(3, 256, 256)
    + CLASSIFIER,
    "alexnet_2012": conv(11, 3, 96) + conv(5, 96, 256, groups=2) + conv(3, 256, 384) + conv(3, 384, 384, groups=2)
    + conv(3, 384, 256, groups=2) + CLASSIFIER,
    "zfnet": conv(7, 3, 96) + conv(5, 96, 256) + conv(3, 256, 384) + conv(3, 384, 384) + conv(3, 384, 256)
    + CLASSIFIER,
    "alexnet_small": conv(5, 1, 32) + conv(5, 32, 64) + conv(3, 64, 96) + conv(3, 96, 96) + conv(3, 96, 64)
    + dense(3 * 3 * 64, 256) + dense(256, 256) + dense(256, 10),
}
# (fc7 width, registered number of classes)
HEADS = {"alexnet": (4096, 1000), "alexnet_2012": (4096, 1000), "zfnet": (4096, 1000), "alexnet_small": (256, 10)}
# Map sizes after each layer: the 2012 paper's (at 227×227) and Zeiler & Fergus's Fig. 3, torchvision's, and
# alexnet_small's docstring (ceil-mode pooling halves 28 and 14 exactly).
PAPER_SHAPES = {
    "alexnet_2012": {"conv1": (55, 55, 96), "pool1": (27, 27, 96), "conv2": (27, 27, 256), "pool2": (13, 13, 256),
                     "conv3": (13, 13, 384), "conv4": (13, 13, 384), "conv5": (13, 13, 256), "pool5": (6, 6, 256),
                     "fc6": (4096,), "fc7": (4096,)},
    "zfnet": {"conv1": (110, 110, 96), "pool1": (55, 55, 96), "conv2": (26, 26, 256), "pool2": (13, 13, 256),
              "conv3": (13, 13, 384), "conv4": (13, 13, 384), "conv5": (13, 13, 256), "pool5": (6, 6, 256),
              "fc6": (4096,), "fc7": (4096,)},
    "alexnet": {"conv1": (55, 55, 64), "pool1": (27, 27, 64), "conv2": (27, 27, 192), "pool2": (13, 13, 192),
                "conv3": (13, 13, 384), "conv4": (13, 13, 256), "conv5": (13, 13, 256), "pool5": (6, 6, 256),
                "avgpool": (6, 6, 256), "fc6": (4096,), "fc7": (4096,)},
    "alexnet_small": {"conv1": (28, 28, 32), "pool1": (14, 14, 32), "conv2": (14, 14, 64), "pool2": (7, 7, 64),
                      "conv3": (7, 7, 96), "conv4": (7, 7, 96), "conv5": (7, 7, 64), "pool5": (3, 3, 64),
                      "fc6": (256,), "fc7": (256,)},
}


def _shapes(name, num_classes=None, size=None, **overrides):
    """Parameters and output shapes at `size` (default: the registered input) for `num_classes` (default: the
    registered number), without computing anything."""
    spec = cnn.models.spec(name)
    model = cnn.models.create(name, num_classes=num_classes or spec.num_classes, **overrides)
    x = jnp.zeros((1, *(spec.input_shape if size is None else (size, size, 3))))
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    logits, taps = jax.eval_shape(model.apply, variables, x)
    return variables, logits, taps


@pytest.mark.parametrize("name", sorted(HAND_COUNTS))
def test_parameter_count_equals_the_hand_count(name):
    variables, _, _ = _shapes(name)
    assert set(variables) == {"params"}
    assert count(variables) == HAND_COUNTS[name]


def test_published_counts():
    # torchvision's documented alexnet count; the 2012 network's ~60.97M ("60 million" in the paper).
    assert HAND_COUNTS["alexnet"] == 61_100_840
    assert HAND_COUNTS["alexnet_2012"] == 60_965_224
    assert HAND_COUNTS["zfnet"] == 62_357_608
    assert HAND_COUNTS["alexnet_small"] == 461_962  # cnn/models/alexnet.py's docstring


@pytest.mark.parametrize("name", sorted(PAPER_SHAPES))
def test_every_layer_has_the_papers_map_size(name):
    _, logits, taps = _shapes(name)
    shapes = {k: v.shape[1:] for k, v in taps.items() if k in PAPER_SHAPES[name]}
    assert shapes == PAPER_SHAPES[name]
    assert logits.shape == (1, HEADS[name][1])


def test_lrn_sits_where_each_paper_puts_it():
    _, _, taps = _shapes("alexnet_2012")
    assert taps["norm1"].shape[1:] == (55, 55, 96) and taps["norm2"].shape[1:] == (27, 27, 256)  # before pooling
    _, _, taps = _shapes("zfnet")
    assert taps["norm1"].shape[1:] == (55, 55, 96) and taps["norm2"].shape[1:] == (13, 13, 256)  # after pooling
    _, _, taps = _shapes("alexnet_small")
    assert taps["norm1"].shape[1:] == (28, 28, 32) and taps["norm2"].shape[1:] == (14, 14, 64)  # before pooling
    _, _, taps = _shapes("alexnet")
    assert not any(k.startswith("norm") for k in taps)


@pytest.mark.parametrize("name", sorted(HAND_COUNTS))
def test_num_classes_override(name):
    hidden, classes = HEADS[name]
    variables, logits, _ = _shapes(name, num_classes=7)
    assert logits.shape == (1, 7)
    assert count(variables) == HAND_COUNTS[name] - dense(hidden, classes) + dense(hidden, 7)


def test_torchvision_alexnet_keeps_its_classifier_at_other_sizes():
    variables, logits, taps = _shapes("alexnet", size=127)
    assert taps["pool5"].shape[1:] == (3, 3, 256) and taps["avgpool"].shape[1:] == (6, 6, 256)
    assert count(variables) == HAND_COUNTS["alexnet"]


# --- Keras rebuilds: the same networks written with Keras layers compute the same logits ---------------------------

HIDDEN = 64  # fc6/fc7 width in the Keras comparisons: the convolutions are the papers', the classifier is smaller


def _keras_lrn(x):
    """The paper's LRN, b_i = a_i / (2 + 1e-4 Σ_{|j − i| ≤ 2} a_j²)^0.75, clipped at the border maps."""
    ops = keras.ops
    c = x.shape[-1]
    padded = ops.pad(ops.square(x), [[0, 0], [0, 0], [0, 0], [2, 2]])
    energy = sum(padded[..., i:i + c] for i in range(5))
    return x / ops.power(2.0 + 1e-4 * energy, 0.75)


def _keras_alexnet(name, num_classes=7):
    L = keras.layers

    def conv_relu(filters, k, stride=1, pad=0, groups=1):
        return [L.ZeroPadding2D(pad), L.Conv2D(filters, k, strides=stride, groups=groups, activation="relu")]

    def lrn():
        return L.Lambda(_keras_lrn)

    def pool(ceil_mode=False):
        # At these sizes TensorFlow's SAME pads (0, 1): Caffe's ceil mode.
        return L.MaxPooling2D(3, 2, padding="same" if ceil_mode else "valid")

    body = {
        "alexnet": [*conv_relu(64, 11, 4, 2), pool(), *conv_relu(192, 5, pad=2), pool(),
                    *conv_relu(384, 3, pad=1), *conv_relu(256, 3, pad=1), *conv_relu(256, 3, pad=1), pool()],
        "alexnet_2012": [*conv_relu(96, 11, 4), lrn(), pool(), *conv_relu(256, 5, pad=2, groups=2), lrn(), pool(),
                         *conv_relu(384, 3, pad=1), *conv_relu(384, 3, pad=1, groups=2),
                         *conv_relu(256, 3, pad=1, groups=2), pool()],
        "zfnet": [*conv_relu(96, 7, 2, 1), pool(True), lrn(), *conv_relu(256, 5, 2), pool(True), lrn(),
                  *conv_relu(384, 3, pad=1), *conv_relu(384, 3, pad=1), *conv_relu(256, 3, pad=1), pool()],
        "alexnet_small": [*conv_relu(32, 5, pad=2), lrn(), pool(True), *conv_relu(64, 5, pad=2), lrn(), pool(True),
                          *conv_relu(96, 3, pad=1), *conv_relu(96, 3, pad=1), *conv_relu(64, 3, pad=1), pool()],
    }[name]
    return keras.Sequential([keras.Input(cnn.models.spec(name).input_shape), *body, L.Flatten(),
                             L.Dense(HIDDEN, activation="relu"), L.Dense(HIDDEN, activation="relu"),
                             L.Dense(num_classes)], name=f"keras_{name}")


@pytest.mark.parametrize("name", sorted(HAND_COUNTS))
def test_keras_rebuild_computes_the_same_logits(name):
    keras.utils.set_random_seed(0)
    reference = _keras_alexnet(name)
    rng = np.random.default_rng(0)
    for layer in reference.layers:  # nonzero biases, so a misplaced bias shows
        if layer.weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape)])
    variables = import_keras(reference, name, hidden=HIDDEN)
    # Inputs large enough that the LRN's α Σ a² is comparable with k = 2 (else LRN ≈ a constant scale).
    x = 300 * rng.normal(size=(2, *cnn.models.spec(name).input_shape)).astype(np.float32)
    model = cnn.models.create(name, num_classes=7, hidden=HIDDEN)
    ours, _ = jax.jit(model.apply)(variables, x)
    theirs = np.asarray(reference(x, training=False))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


# --- training mode -----------------------------------------------------------------------------------------------

# Input sizes that give 1×1 pool5 maps; with a narrower classifier (the counts above check the real one) every
# layer is kept and the test stays quick.
REDUCED = {"alexnet": 63, "alexnet_2012": 67, "zfnet": 63, "alexnet_small": 28}


@pytest.mark.parametrize("name, drops_fc6_input", [("alexnet", True), ("alexnet_2012", False), ("zfnet", False),
                                                   ("alexnet_small", False)])
def test_forward_backward_reaches_every_parameter_and_drops_out_where_the_reference_does(name, drops_fc6_input):
    model = cnn.models.create(name, num_classes=10, hidden=256)
    x = jax.random.normal(jax.random.key(1), (2, REDUCED[name], REDUCED[name], 3))

    @jax.jit
    def train_step(x):
        params = model.init(jax.random.key(0), x)["params"]

        def loss(p):
            logits, taps = model.apply({"params": p}, x, train=True, rngs={"dropout": jax.random.key(2)})
            return -jax.nn.log_softmax(logits)[:, 3].mean(), taps

        return params, jax.grad(loss, has_aux=True)(params)

    params, (grads, taps) = train_step(x)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert np.all(np.isfinite(g)) and np.any(g != 0), path
    # torchvision drops fc6's input; the papers (Caffe's drop6 after relu6) drop fc6's output.
    fc6_input = np.asarray(taps.get("avgpool", taps["pool5"])).reshape(2, -1)
    undropped = np.maximum(fc6_input @ np.asarray(params["fc6"]["kernel"]) + np.asarray(params["fc6"]["bias"]), 0)
    assert np.allclose(taps["fc6"], undropped, rtol=1e-5, atol=1e-6) != drops_fc6_input
