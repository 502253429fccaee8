r"""The README's visualisation gallery, drawn by `launch.py visualize` itself: every method on the default
LeNet-5 run and on ResNet-50 (random weights for the image methods; a 30-step Fashion-MNIST run for the
methods that read a workdir), CAM on a CIFAR ResNet-20 trained one epoch on Fashion-MNIST (LeNet-5 has no
global-average-pooling head), timed, with a chosen few PNGs copied into docs/gallery/.

    python launch.py train --config experiments/fashion_mnist/lenet5.py --workdir runs/gallery_lenet5
    python experiments/gallery.py --run runs/gallery_lenet5   # about 10 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GALLERY = os.path.join(ROOT, "docs", "gallery")
IMAGES = "19,2,13,8,18,0"  # Fashion-MNIST test images of a T-shirt, trouser, dress, sandal, bag and ankle boot
WORKDIR_METHODS = ("curves", "confusion", "filter_evolution")
IMAGE_METHODS = ("feature_maps", "filters", "saliency", "activation_max", "deconvnet", "guided_backprop", "occlusion",
                 "cam", "gradcam", "top_patches")
# (source folder, PNG) -> name in docs/gallery
CHOSEN = {
    ("lenet5", "filter_evolution.png"): "lenet5_filter_evolution.png",
    ("lenet5", "feature_maps_0_c1.png"): "lenet5_feature_maps_c1.png",
    ("lenet5", "saliency.png"): "lenet5_saliency.png",
    ("lenet5", "guided_backprop.png"): "lenet5_guided_backprop.png",
    ("lenet5", "gradcam.png"): "lenet5_gradcam.png",
    ("lenet5", "occlusion.png"): "lenet5_occlusion.png",
    ("lenet5", "activation_max.png"): "lenet5_activation_max.png",
    ("lenet5", "top_patches_c3_0.png"): "lenet5_top_patches_c3.png",
    ("lenet5", "confusion.png"): "lenet5_confusion.png",
    ("resnet20", "cam.png"): "resnet20_cam.png",
    ("resnet50", "filters.png"): "resnet50_filters.png",
    ("resnet50", "guided_backprop.png"): "resnet50_guided_backprop.png",
    ("resnet50", "gradcam.png"): "resnet50_gradcam.png",
}


def _launch(*args: str) -> float:
    """Runs `launch.py ARGS`, stopping with its error output if it fails; the seconds it took."""
    start = time.perf_counter()
    command = [sys.executable, os.path.join(ROOT, "launch.py"), *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def _visualize(out: str, method: str, *args: str) -> float:
    return _launch("visualize", "--method", method, "--out", out, *args)


def _train(workdir: str, model: str, *overrides: str) -> str:
    """A Fashion-MNIST run of `model` by the default experiment's recipe with `overrides`; its workdir."""
    config = os.path.join(ROOT, "experiments", "fashion_mnist", "lenet5.py")
    _launch("train", "--config", config, "--workdir", workdir, f"--config.model.name={model}",
            "--config.keep_checkpoint_epochs=()", *overrides)
    return workdir


def _input_image(run: str, path: str) -> None:
    """Test image 0 of the run's dataset as a 112×112 PNG, the picture the random ResNet-50 looks at."""
    from PIL import Image

    from cnn.train.trained import load_trained

    picture = load_trained(run).dataset.test.batch(np.array([0]))["image"][0, ..., 0]
    grey = np.uint8(255 * (picture - picture.min()) / (picture.max() - picture.min()))
    Image.fromarray(grey).resize((112, 112), Image.BICUBIC).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a finished default LeNet-5 run's workdir")
    parser.add_argument("--scratch", default=os.path.join(ROOT, "runs", "gallery"), help="where every PNG goes")
    args = parser.parse_args()
    lenet_out, resnet_out = (os.path.join(args.scratch, name) for name in ("lenet5", "resnet50"))
    timings = {}
    for method in WORKDIR_METHODS + IMAGE_METHODS:
        if method == "cam":
            continue  # LeNet-5's head is not GAP + linear: CAM is undefined (gradcam is its generalisation)
        extra = ["--layer", "c3"] if method == "top_patches" else []
        timings[("lenet5", method)] = _visualize(lenet_out, method, "--workdir", args.run, "--index", IMAGES, *extra)
    image = os.path.join(args.scratch, "input.png")
    os.makedirs(args.scratch, exist_ok=True)
    _input_image(args.run, image)
    for method in IMAGE_METHODS:
        extra = {"activation_max": ["--class", "1"], "top_patches": ["--layer", "stage1"]}.get(method, [])
        timings[("resnet50", method)] = _visualize(resnet_out, method, "--model", "resnet50", "--image", image, *extra)
    resnet_run = _train(os.path.join(args.scratch, "resnet50_run"), "resnet50", "--config.num_train_steps=30",
                        "--config.eval_every_steps=10", "--config.checkpoint_every_steps=10",
                        "--config.schedule.warmup_epochs=0")
    for method in WORKDIR_METHODS:
        timings[("resnet50 run", method)] = _visualize(resnet_out, method, "--workdir", resnet_run)
    cam_run = _train(os.path.join(args.scratch, "resnet20_run"), "resnet20_cifar", "--config.num_epochs=1",
                     "--config.schedule.warmup_epochs=0.2")
    timings[("resnet20 run", "cam")] = _visualize(os.path.join(args.scratch, "resnet20"), "cam", "--workdir", cam_run,
                                                  "--index", IMAGES)
    os.makedirs(GALLERY, exist_ok=True)
    for (folder, name), target in CHOSEN.items():
        shutil.copyfile(os.path.join(args.scratch, folder, name), os.path.join(GALLERY, target))
    for (subject, method), seconds in timings.items():
        print(f"{subject:13} {method:17} {seconds:6.1f} s")


if __name__ == "__main__":
    main()
