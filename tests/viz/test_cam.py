"""CAM and Grad-CAM: Grad-CAM reduces to CAM on a GAP + linear network (Selvaraju et al. 2017, section 3.1),
and Grad-CAM's weights are the averaged gradients computed here by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn.models import create
from cnn.viz.cam import cam, grad_cam
from cnn.viz.probe import layer_gradient


@pytest.fixture(scope="module")
def resnet():
    model = create("resnet18", num_classes=10)
    x = jax.random.normal(jax.random.key(1), (2, 64, 64, 3))
    return model, jax.jit(lambda x: model.init(jax.random.key(0), x))(x), x


def test_grad_cam_is_the_rectified_cam_over_the_map_area_on_a_gap_linear_network(resnet):
    model, variables, x = resnet
    classes = [3, 8]
    maps = cam(model, variables, x, classes)
    assert maps.shape == (2, 2, 2)  # stage4 of ResNet-18 at 64×64
    np.testing.assert_allclose(grad_cam(model, variables, x, classes), jax.nn.relu(maps) / 4, rtol=1e-4, atol=1e-6)


def test_cam_averages_to_the_logit_less_its_bias(resnet):
    model, variables, x = resnet
    logits = model.apply(variables, x)[0]
    bias = variables["params"]["fc"]["bias"] if "fc" in variables["params"] else 0.0
    maps = cam(model, variables, x, [0, 5])
    np.testing.assert_allclose(maps.mean(axis=(1, 2)) + np.asarray(bias)[[0, 5]], logits[np.arange(2), [0, 5]],
                               rtol=1e-4, atol=1e-5)


def test_grad_cam_weights_channels_by_their_mean_gradient(resnet):
    model, variables, x = resnet
    value, gradient = layer_gradient(model, variables, x, "stage3", [1, 2])
    expected = np.maximum(np.einsum("nhwc,nc->nhw", value, np.asarray(gradient).mean(axis=(1, 2))), 0)
    np.testing.assert_allclose(grad_cam(model, variables, x, [1, 2], layer="stage3"), expected, rtol=1e-5, atol=1e-6)


def test_cam_refuses_a_network_without_a_gap_linear_head():
    model = create("lenet5", num_classes=10)
    x = jnp.ones((1, 28, 28, 1))
    variables = model.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="use gradcam"):
        cam(model, variables, x, [0])
    assert grad_cam(model, variables, x, [0]).shape == (1, 5, 5)  # s4, the last map larger than 1×1
