"""How the CIFAR-10 and ImageNet recipe tests train a config for a few real steps on mocked data.

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
cost more time than it saves; the numerics are the same up to rounding. For the same reason they trace the
plain primitives (`fast_paths.plain()`): a fast path spends compile time to win per step (NASNet-A's hundred
depthwise 5×5 and 7×7 layers took this test from 125 to 188 s); tests/layers/test_fast_paths.py pins every
fast path to those primitives, and the zoo's tests run each model through them.
"""

import glob
import os

import jax
import numpy as np
import tensorflow_datasets as tfds

import cnn.models
from cnn.config import load_config
from cnn.layers import fast_paths
from cnn.train import train_and_evaluate
from cnn.train.metrics import read_metrics

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


def configs(folder: str) -> list[str]:
    """The config files of experiments/<folder>, relative to the repository root."""
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "experiments", folder, "*.py"))
                  if _is_config(p))


_JIT = jax.jit


def _fast_jit(fun=None, **kwargs):
    """jax.jit with FAST_COMPILE, also as a bare or keyword-only decorator."""
    if fun is None:
        return lambda f: _JIT(f, compiler_options=FAST_COMPILE, **kwargs)
    return _JIT(fun, compiler_options=FAST_COMPILE, **kwargs)


def train_a_few_steps(path: str, tmp_path, monkeypatch) -> None:
    """Trains the config at `path` as the module doc says and checks the steps ran."""
    # The train state's initialisation, and the train and eval steps, all compile through jax.jit.
    monkeypatch.setattr(jax, "jit", _fast_jit)
    config = load_config(os.path.join(ROOT, path))
    steps = max(STEPS, int(np.ceil(config.schedule.warmup_epochs)) + 1)  # one epoch is one step here
    config.update({"batch_size": BATCH, "num_train_steps": steps, "eval_every_steps": steps,
                   "log_every_steps": 1, "checkpoint_every_steps": steps})
    if config.dataset.image_size:
        config.dataset.image_size = SMALLEST.get(config.model.name, cnn.models.spec(config.model.name).input_shape[0])
    with tfds.testing.mock_data(num_examples=BATCH), fast_paths.plain():
        final = train_and_evaluate(config, str(tmp_path))
    records = read_metrics(str(tmp_path))
    train = [r for r in records if r["split"] == "train"]
    assert [r["step"] for r in train] == list(range(1, steps + 1))
    assert all(np.isfinite(r["loss"]) for r in train)
    assert [r["step"] for r in records if r["split"] == "test"] == [steps]
    # A paper's learning rate on a batch of 2 can blow up the eval-mode network after two steps; the
    # evaluation must still have run over the whole mocked split.
    assert final["count"] == BATCH and 0 <= final["top1"] <= 1
