"""`launch.py visualize`: every method on a finished run and on a zoo model with an image file, the arrays it
saves equal to the library's, and bad input refused with a message that names the fix."""

import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from cnn.viz import attribution, cam
from cnn.viz.subject import from_model, from_run, read_image
from cnn.viz.visualize import METHODS, Options, visualize

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
RUN_METHODS = sorted(set(METHODS) - {"cam"})  # LeNet-5 has no GAP + linear head


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_subject(tiny_run):
    return from_run(tiny_run, indices=[0, 3])


@pytest.mark.parametrize("method", RUN_METHODS)
def test_every_method_writes_pictures_of_a_finished_run(run_subject, tmp_path, method):
    paths = visualize(run_subject, method, str(tmp_path), Options(unit=1))
    assert paths and all(_is_png(p) and os.path.getsize(p) > 2000 for p in paths)


def test_the_saved_arrays_are_the_librarys_own(tiny_run, tmp_path):
    subject = from_run(tiny_run, indices=[1, 2])
    classes = subject.predictions()
    visualize(subject, "guided_backprop", str(tmp_path))
    visualize(subject, "gradcam", str(tmp_path), Options(layer="c3", class_index=4))
    expected = attribution.guided_backprop(subject.model, subject.variables, subject.inputs, classes)
    np.testing.assert_array_equal(np.load(tmp_path / "guided_backprop.npy"), expected)
    np.testing.assert_array_equal(np.load(tmp_path / "gradcam.npy"),
                                  cam.grad_cam(subject.model, subject.variables, subject.inputs, [4, 4], "c3"))


def test_an_image_file_is_read_at_the_models_shape(tmp_path):
    rgb = np.zeros((40, 30, 3), np.uint8)
    rgb[:, :, 0] = 255
    Image.fromarray(rgb).save(tmp_path / "red.png")
    grey = read_image(str(tmp_path / "red.png"), (20, 15, 1))
    assert grey.shape == (20, 15, 1) and grey.dtype == np.uint8 and np.all(grey == 85)  # (255 + 0 + 0) / 3
    np.save(tmp_path / "grey.npy", np.full((8, 8), 200.0))
    assert np.all(read_image(str(tmp_path / "grey.npy"), (4, 4, 3)) == 200)
    with pytest.raises(ValueError, match="no such file"):
        read_image(str(tmp_path / "missing.png"), (4, 4, 3))


def test_cam_on_a_zoo_model_with_a_gap_linear_head(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 50, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    subject = from_model("resnet18", str(tmp_path / "x.png"), input_size=32)
    assert subject.inputs.shape == (1, 32, 32, 3) and abs(float(jnp.mean(subject.inputs))) < 1e-5
    paths = visualize(subject, "cam", str(tmp_path / "out"), Options(class_index=7))
    assert _is_png(paths[0]) and np.load(tmp_path / "out" / "cam.npy").shape == (1, 1, 1)
    with pytest.raises(ValueError, match="--workdir"):
        visualize(subject, "curves", str(tmp_path / "out"))
    with pytest.raises(ValueError, match="visualisation method"):
        visualize(subject, "gradcma", str(tmp_path / "out"))


def _launch(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"), "visualize", *args],
                          capture_output=True, text=True, timeout=300)


def test_the_cli_runs_a_method_and_names_bad_input(tiny_run, tmp_path):
    done = _launch("--workdir", tiny_run, "--method", "saliency", "--index", "0,1", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert f"wrote {tmp_path / 'saliency.png'}" in done.stdout
    assert np.load(tmp_path / "saliency.npy").shape == (2, 28, 28)
    done = _launch("--workdir", tiny_run, "--method", "occlusion", "--patch", "14", "--stride", "14", "--out",
                   str(tmp_path))
    assert done.returncode == 0, done.stderr
    quadrants = np.load(tmp_path / "occlusion.npy")[0].reshape(2, 14, 2, 14)
    np.testing.assert_array_equal(quadrants, quadrants[:, :1, :, :1] * np.ones((1, 14, 1, 14)))  # one value each
    for args, message in [
        (["--workdir", tiny_run, "--method", "gradcam", "--layer", "c4"], "no tap or module 'c4'"),
        (["--workdir", tiny_run, "--method", "saliency", "--index", "99999"], "--index must be in"),
        (["--workdir", tiny_run, "--method", "salency"], "saliency"),
        (["--model", "lenet5", "--method", "saliency"], "needs --image"),
    ]:
        failed = _launch(*args, "--out", str(tmp_path / "bad"))
        assert failed.returncode != 0 and message in failed.stderr, (args, failed.stderr)
