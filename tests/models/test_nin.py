"""Network in Network for CIFAR-10: the hand count, the Caffe model's map sizes, a Keras rebuild of the Caffe
model computing the same logits, global average pooling as the classifier, and gradients."""

import jax
import jax.numpy as jnp
import keras
import numpy as np

import cnn.models
from zoo_testing import conv
from cnn.transfer.keras import import_keras



# The authors' cifar10_nin Caffe model: conv1 cccp1 cccp2 | conv2 cccp3 cccp4 | conv3 cccp5 cccp6.
HAND_COUNT = (conv(5, 3, 192) + conv(1, 192, 160) + conv(1, 160, 96)
              + conv(5, 96, 192) + conv(1, 192, 192) + conv(1, 192, 192)
              + conv(3, 192, 192) + conv(1, 192, 192) + conv(1, 192, 10))


def _shapes(num_classes=10):
    model = cnn.models.create("nin_cifar", num_classes=num_classes)
    x = jnp.zeros((1, 32, 32, 3))
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    return variables, *jax.eval_shape(model.apply, variables, x)


def test_parameter_count_equals_the_hand_count():
    variables, _, _ = _shapes()
    assert set(variables) == {"params"}
    assert sum(x.size for x in jax.tree.leaves(variables)) == HAND_COUNT == 966_986


def test_maps_have_the_caffe_models_sizes():
    _, logits, taps = _shapes()
    assert {k: v.shape[1:] for k, v in taps.items()} == {
        "mlpconv1": (32, 32, 96), "pool1": (16, 16, 96), "mlpconv2": (16, 16, 192), "pool2": (8, 8, 192),
        "mlpconv3": (8, 8, 10)}
    assert logits.shape == (1, 10)


def test_num_classes_sets_the_last_mlpconv_width():
    variables, logits, taps = _shapes(num_classes=100)
    assert logits.shape == (1, 100) and taps["mlpconv3"].shape[1:] == (8, 8, 100)
    assert variables["params"]["cccp6"]["kernel"].shape == (1, 1, 192, 100)
    assert sum(x.size for x in jax.tree.leaves(variables)) == HAND_COUNT - conv(1, 192, 10) + conv(1, 192, 100)


def _keras_nin(num_classes=10):
    """The Caffe model in Keras: TensorFlow's SAME pooling pads (0, 1) at 32 and 16, Caffe's ceil mode, and its
    average leaves the padding out of the divisor, as Caffe's does."""
    L = keras.layers

    def mlpconv(widths, k):
        return [L.Conv2D(widths[0], k, padding="same", activation="relu"),
                *(L.Conv2D(w, 1, activation="relu") for w in widths[1:])]

    return keras.Sequential([
        keras.Input((32, 32, 3)),
        *mlpconv((192, 160, 96), 5), L.MaxPooling2D(3, 2, padding="same"), L.Dropout(0.5),
        *mlpconv((192, 192, 192), 5), L.AveragePooling2D(3, 2, padding="same"), L.Dropout(0.5),
        *mlpconv((192, 192, num_classes), 3), L.GlobalAveragePooling2D(),
    ], name="keras_nin_cifar")


def test_keras_rebuild_of_the_caffe_model_computes_the_same_logits():
    keras.utils.set_random_seed(0)
    reference = _keras_nin()
    rng = np.random.default_rng(0)
    for layer in reference.layers:  # nonzero biases, so a misplaced bias shows
        if layer.weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape)])
    variables = import_keras(reference, "nin_cifar")
    x = rng.normal(size=(4, 32, 32, 3)).astype(np.float32)
    ours, taps = jax.jit(cnn.models.create("nin_cifar", num_classes=10).apply)(variables, x)
    theirs = np.asarray(reference(x, training=False))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())
    # No classifier layer: the logits are the class maps' spatial means, non-negative after cccp6's ReLU.
    np.testing.assert_allclose(ours, np.asarray(taps["mlpconv3"]).mean(axis=(1, 2)), rtol=1e-6)
    assert np.all(np.asarray(ours) >= 0)


def test_forward_backward_reaches_every_parameter():
    model = cnn.models.create("nin_cifar", num_classes=10)
    x = jax.random.normal(jax.random.key(1), (1, 32, 32, 3))

    @jax.jit
    def grads(x):
        params = model.init(jax.random.key(0), x)["params"]

        def loss(p):
            logits, _ = model.apply({"params": p}, x, train=True, rngs={"dropout": jax.random.key(2)})
            return -jax.nn.log_softmax(logits)[0, 3]

        return jax.grad(loss)(params)

    for path, g in jax.tree_util.tree_leaves_with_path(grads(x)):
        assert np.all(np.isfinite(g)) and np.any(g != 0), path
