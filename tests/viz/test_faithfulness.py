"""Deletion curves: exact on a hand-made model, and on a trained Fashion-MNIST LeNet-5 the saliency and
Grad-CAM maps point at evidence the network uses, averaged over 100 test images (measured with 1 epoch
of training: areas over deletion fractions 0-0.5 of 0.22 for saliency, 0.33 for Grad-CAM, 0.36 for random)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn.viz.attribution import saliency
from cnn.viz.cam import grad_cam
from cnn.viz.faithfulness import area_under, deletion_curve
from cnn.viz.plots import upsample

FRACTIONS = [0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]


class Brightness:
    """Class 1's logit is the image's sum: deleting the brightest pixels lowers it fastest."""

    def apply(self, variables, x, train=False):
        score = x.sum(axis=(1, 2, 3))
        return jnp.stack([jnp.zeros_like(score), score], 1), {}


def test_deletion_hides_the_top_ranked_pixels_first():
    images = np.random.default_rng(0).uniform(0, 1, (3, 4, 5, 1)).astype(np.float32)
    curve = deletion_curve(Brightness(), {}, images, [1, 1, 1], images[..., 0], [0.0, 0.25, 1.0])
    flat = np.sort(images.reshape(3, -1), axis=1)[:, ::-1]
    expected = [np.mean(1 / (1 + np.exp(-flat[:, k:].sum(1)))) for k in (0, 5, 20)]
    np.testing.assert_allclose(curve, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="score every pixel"):
        deletion_curve(Brightness(), {}, images, [1, 1, 1], images[:, :2, :, 0], [0.5])


def test_saliency_and_grad_cam_delete_evidence_faster_than_random_pixels(fashion_lenet):
    trained = fashion_lenet
    images = trained.test_images(100)
    model, variables = trained.model, trained.variables
    classes = np.asarray(jnp.argmax(model.apply(variables, images)[0], axis=1))
    rankings = {
        "saliency": saliency(model, variables, images, classes),
        "gradcam": np.stack([upsample(m, (28, 28)) for m in grad_cam(model, variables, images, classes)]),
        "random": jax.random.uniform(jax.random.key(0), images.shape[:3]),
    }
    # deleted pixels turn grey (0: the training set's mean), the occluder of Zeiler & Fergus
    curves = {name: deletion_curve(model, variables, images, classes, r, FRACTIONS) for name, r in rankings.items()}
    area = {name: area_under(FRACTIONS, curve) for name, curve in curves.items()}
    assert area["saliency"] < 0.85 * area["random"], area
    assert area["gradcam"] < 0.95 * area["random"], area
    assert np.all(curves["gradcam"][3:] < curves["random"][3:]), curves
