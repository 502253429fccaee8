"""Every CIFAR-10 and ImageNet experiment config trains a few real steps, with its own recipe, on mocked data.

Each config under experiments/cifar10 and experiments/imagenet (found by glob, so a new one is covered
without editing this file) runs inside `tfds.testing.mock_data`: its optimizer, schedule, augmentation,
initialisation, loss settings and model are left exactly as the config states them. Only these change:

- the batch size (`BATCH`) and the number of mocked examples, so that one epoch is one step;
- the step counts: `STEPS` train steps, or one more than a warm-up spans where the schedule has one (the
  schedule refuses a run no longer than its warm-up), one evaluation at the end, a checkpoint at the end,
  a train record at every step;
- for ImageNet configs only, `dataset.image_size`: the smallest size the model accepts (`SMALLEST`; the
  aux classifier of inception_v3 needs its 299×299 input, and a model missing from the table keeps its
  registered input size), so that the biggest networks compile within the CI budget. The mocked
  ImageNet images go through the real random-resized-crop and centre-crop transforms to that size.

The compiled train and eval steps are those of `cnn.train` with XLA's CPU optimisations turned off
(`FAST_COMPILE`, as tests/models/zoo_testing.py does): each program runs twice, so optimising it would
cost more time than it saves; the numerics are the same up to rounding.

The second test checks, without training, that each config's schedule spans the epochs its recipe
states at the paper's batch size on the real training sets (CIFAR-10 50,000 and ImageNet 1,281,167
images; cnn drops the last partial batch of each epoch).
"""

import glob
import os

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

import cnn.models
from cnn.config import load_config
from cnn.train import train_and_evaluate
from cnn.train.metrics import read_metrics
from cnn.train.optim import build_schedule
from cnn.train.run import _total_steps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_EXAMPLES = {"tfds:cifar10": 50_000, "tfds:imagenet2012": 1_281_167}
BATCH = 2
STEPS = 2
# The smallest square input each ImageNet model accepts (checked by building it); others keep their own size.
SMALLEST = {"alexnet_2012": 67, "googlenet_2014": 79, "inception_v3": 299, "nasnet_a_mobile": 67,
            "efficientnet_b0": 32, "mobilenet_v2": 32, "resnet50": 32, "se_resnet50": 32,
            "shufflenet_v2_x1_0": 32, "squeezenet1_1": 32, "vgg16": 32}
# As tests/models/zoo_testing.py: each graph is compiled once and run a few times.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True,
                "xla_cpu_use_fusion_emitters": False}


def _is_config(path: str) -> bool:
    with open(path) as f:
        return "\ndef get_config(" in f.read()


CONFIGS = sorted(os.path.relpath(p, ROOT) for folder in ("cifar10", "imagenet")
                 for p in glob.glob(os.path.join(ROOT, "experiments", folder, "*.py")) if _is_config(p))


def test_every_cifar10_and_imagenet_config_is_covered():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"resnet20.py", "resnet56.py", "resnet110.py", "vgg16_bn.py", "resnet50.py", "alexnet.py"} <= names


_JIT = jax.jit


def _fast_jit(fun=None, **kwargs):
    """jax.jit with FAST_COMPILE, also as a bare or keyword-only decorator."""
    if fun is None:
        return lambda f: _JIT(f, compiler_options=FAST_COMPILE, **kwargs)
    return _JIT(fun, compiler_options=FAST_COMPILE, **kwargs)


@pytest.mark.parametrize("path", CONFIGS)
def test_the_recipe_trains_a_few_real_steps_on_mocked_data(path, tmp_path, monkeypatch):
    # The train state's initialisation, and the train and eval steps, all compile through jax.jit.
    monkeypatch.setattr(jax, "jit", _fast_jit)
    config = load_config(os.path.join(ROOT, path))
    steps = max(STEPS, int(np.ceil(config.schedule.warmup_epochs)) + 1)  # one epoch is one step here
    config.update({"batch_size": BATCH, "num_train_steps": steps, "eval_every_steps": steps,
                   "log_every_steps": 1, "checkpoint_every_steps": steps})
    if config.dataset.image_size:
        config.dataset.image_size = SMALLEST.get(config.model.name, cnn.models.spec(config.model.name).input_shape[0])
    with tfds.testing.mock_data(num_examples=BATCH):
        final = train_and_evaluate(config, str(tmp_path))
    records = read_metrics(str(tmp_path))
    train = [r for r in records if r["split"] == "train"]
    assert [r["step"] for r in train] == list(range(1, steps + 1))
    assert all(np.isfinite(r["loss"]) for r in train)
    assert [r["step"] for r in records if r["split"] == "test"] == [steps]
    # A paper's learning rate on a batch of 2 can blow up the eval-mode network after two steps; the
    # evaluation must still have run over the whole mocked split.
    assert final["count"] == BATCH and 0 <= final["top1"] <= 1


# By hand, at the paper's batch size: (training steps, {step: the rate's factor from there on}, warm-up steps).
# CIFAR-10: 50,000 // 128 = 390 and 50,000 // 64 = 781 steps per epoch. ImageNet: 1,281,167 // 128 = 10,009,
# // 256 = 5,004, // 512 = 2,502, // 1,024 = 1,251, // 1,536 = 834, // 1,600 = 800, // 4,096 = 312.
HE_ET_AL = (64_000, {32_000: 0.1, 48_000: 0.01}, 0)  # 64k iterations, drops at 32k and 48k
SCHEDULES = {
    "cifar10/resnet20.py": HE_ET_AL, "cifar10/resnet32.py": HE_ET_AL, "cifar10/resnet44.py": HE_ET_AL,
    "cifar10/resnet56.py": HE_ET_AL,
    "cifar10/resnet110.py": (64_000, {32_000: 0.1, 48_000: 0.01}, 400),
    "cifar10/wrn28_10.py": (200 * 390, {60 * 390: 0.2, 120 * 390: 0.04, 160 * 390: 0.008}, 0),
    "cifar10/densenet_bc_100_12.py": (300 * 781, {150 * 781: 0.1, 225 * 781: 0.01}, 0),
    "cifar10/nin.py": (160 * 390, {80 * 390: 0.1, 120 * 390: 0.01}, 0),
    "cifar10/vgg16_bn.py": (160 * 390, {80 * 390: 0.1, 120 * 390: 0.01}, 0),
    "imagenet/alexnet.py": (90 * 10_009, {30 * 10_009: 0.1, 60 * 10_009: 0.01, 80 * 10_009: 0.001}, 0),
    "imagenet/vgg16.py": (74 * 5_004, {30 * 5_004: 0.1, 50 * 5_004: 0.01, 65 * 5_004: 0.001}, 0),  # 370k it.
    "imagenet/googlenet.py": (90 * 5_004, {8 * 5_004: 0.96}, 0),  # 4% less every 8 epochs
    "imagenet/resnet50.py": (90 * 5_004, {30 * 5_004: 0.1, 60 * 5_004: 0.01}, 0),
    "imagenet/mobilenet_v2.py": (300 * 834, {834: 0.98}, 0),
    "imagenet/efficientnet_b0.py": (350 * 312, {5 * 312 + round(2.4 * 312): 0.97}, 5 * 312),
    "imagenet/inception_v3.py": (100 * 800, {}, 0),
    "imagenet/nasnet_a_mobile.py": (312 * 800, {}, 0),
    "imagenet/se_resnet50.py": (100 * 1_251, {}, 0),
    "imagenet/shufflenet_v2_x1_0.py": (300_000, {}, 0),
    "imagenet/squeezenet1_1.py": (68 * 2_502, {}, 0),
}


@pytest.mark.parametrize("path", CONFIGS)
def test_the_schedule_spans_the_papers_training_at_the_papers_batch_size(path):
    key = os.path.relpath(path, "experiments")
    assert key in SCHEDULES, f"{path}: add its hand-computed schedule to SCHEDULES"
    total, factors, warmup = SCHEDULES[key]
    config = load_config(os.path.join(ROOT, path))
    per_epoch = TRAIN_EXAMPLES[config.dataset.name] // config.batch_size
    assert _total_steps(config, per_epoch) == total
    lr = config.optimizer.learning_rate
    schedule = build_schedule(config.schedule, lr, per_epoch, total)
    assert round(config.schedule.warmup_epochs * per_epoch) == warmup
    if warmup:
        assert float(schedule(0)) == 0 and float(schedule(warmup)) == pytest.approx(lr)
    else:
        assert float(schedule(0)) == pytest.approx(lr)
    start = warmup or 0
    for step, factor in factors.items():
        assert float(schedule(step)) == pytest.approx(lr * factor, rel=1e-4), step
        if config.schedule.name == "step":
            assert float(schedule(step - 1)) > float(schedule(step))
    assert float(schedule(total)) <= float(schedule(start))
