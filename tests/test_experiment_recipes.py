"""Every CIFAR-10 recipe trains a few real steps on mocked data (tests/recipe_testing.py says how), and every
CIFAR-10 and ImageNet schedule spans its paper's training at the paper's batch size (by hand). The ImageNet
recipes train in test_experiment_recipes_imagenet.py, so that the two halves can run in parallel."""

import os

import pytest

from cnn.config import load_config
from cnn.train.optim import build_schedule
from cnn.train.run import total_steps
from tests.recipe_testing import ROOT, TRAIN_EXAMPLES, configs, train_a_few_steps

CONFIGS = configs("cifar10") + configs("imagenet")


def test_every_cifar10_and_imagenet_config_is_covered():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"resnet20.py", "resnet56.py", "resnet110.py", "vgg16_bn.py", "resnet50.py", "alexnet.py"} <= names


@pytest.mark.parametrize("path", configs("cifar10"))
def test_the_recipe_trains_a_few_real_steps_on_mocked_data(path, tmp_path, monkeypatch):
    train_a_few_steps(path, tmp_path, monkeypatch)


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
    assert total_steps(config, per_epoch) == total
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
