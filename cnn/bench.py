"""`launch.py bench`: train-step and inference throughput of a zoo model, and peak memory.

The train step is the one training runs (`cnn.train.steps.train_step`, jitted for a mesh
over every device, state donated), with SGD + momentum on a fixed random batch already on
the device, so the figure is the model's compute, not the input pipeline. Compilation is
timed apart; each figure is the median of several timed runs of back-to-back steps.
`CompiledTrainStep` and the timing helpers are also what `benchmarks/compare.py` times against PyTorch.
"""

from __future__ import annotations

import functools
import platform
import resource
import statistics
import time
from collections.abc import Callable

import jax
import numpy as np
import optax

from cnn import models
from cnn.train.compiled import compute_dtype as resolve_dtype
from cnn.train.sharding import check_batch_size, jit_eval_step, jit_train_step, make_mesh, put_batch, replicate
from cnn.train.state import create_train_state
from cnn.train.steps import eval_step, train_step


def time_calls(step: Callable[[], object], calls: int) -> float:
    """Seconds per call of `calls` back-to-back calls of `step`, waiting for the last result to be ready."""
    start = time.perf_counter()
    for _ in range(calls):
        out = step()
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / calls


def calls_lasting(step: Callable[[], object], seconds: float) -> int:
    """How many back-to-back calls of `step` take about `seconds` (at least 1), from the time of one call."""
    return max(1, round(seconds / max(time_calls(step, 1), 1e-6)))


def _timed_runs(step: Callable[[], object], repeats: int, min_seconds: float) -> tuple[list[float], int]:
    """Seconds per call over `repeats` runs, each of enough calls to last about `min_seconds`."""
    calls = calls_lasting(step, min_seconds)
    return [time_calls(step, calls) for _ in range(repeats)], calls


def _peak_memory_mb() -> dict[str, float | None]:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    device = None
    stats = jax.devices()[0].memory_stats()  # None on CPU
    if stats and "peak_bytes_in_use" in stats:
        device = stats["peak_bytes_in_use"] / 2**20
    return {"peak_rss_mb": rss, "peak_device_mb": device}


class CompiledTrainStep:
    """cnn's train step for `model`, compiled, on a fixed random batch already on every visible device.

    Calling it runs one SGD + momentum update of the state it holds (donated, as in training) and
    returns that step's metrics, unwaited. Shared by `benchmark` and `benchmarks.compare`, so both time
    the step training runs. `input_size` replaces the model's default height and width (its channels
    are kept), `num_classes` its default class count; `compile_s` is the compilation's wall time.
    """

    def __init__(self, model: str, batch_size: int, input_size: int | None = None, compute_dtype: str = "float32",
                 num_classes: int | None = None):
        spec = models.spec(model)
        self.num_classes = num_classes or spec.num_classes
        self.input_shape = (input_size, input_size, spec.input_shape[-1]) if input_size else spec.input_shape
        self.dtype = resolve_dtype(compute_dtype, "--compute-dtype")
        self.mesh = make_mesh()
        check_batch_size(batch_size, self.mesh)
        module = models.create(model, num_classes=self.num_classes)
        state = create_train_state(module, optax.sgd(0.01, momentum=0.9), jax.random.key(0), self.input_shape)
        self.state = replicate(state, self.mesh)
        rng = np.random.default_rng(0)
        self.batch = put_batch({
            "image": rng.normal(size=(batch_size, *self.input_shape)).astype(np.float32),
            "label": rng.integers(0, self.num_classes, batch_size).astype(np.int32),
            "mask": np.ones(batch_size, np.float32),
        }, self.mesh)
        self._key = jax.random.key(1)
        train_fn = jit_train_step(functools.partial(train_step, compute_dtype=self.dtype), self.mesh)
        start = time.perf_counter()
        self._compiled = train_fn.lower(self.state, self.batch, self._key).compile()
        self.compile_s = time.perf_counter() - start

    def __call__(self) -> dict[str, jax.Array]:
        self.state, metrics = self._compiled(self.state, self.batch, self._key)
        return metrics


def benchmark(model: str, batch_size: int, input_size: int | None = None, *, compute_dtype: str = "float32",
              repeats: int = 5, min_seconds: float = 1.0) -> dict:
    """Images/s of one train step and of inference for `model` at `batch_size`, on every visible device.

    `input_size` replaces the model's default height and width (its channels are kept).
    """
    train = CompiledTrainStep(model, batch_size, input_size, compute_dtype)
    infer_fn = jit_eval_step(functools.partial(eval_step, compute_dtype=train.dtype), train.mesh)
    start = time.perf_counter()
    infer_compiled = infer_fn.lower(train.state, train.batch).compile()
    compile_s = train.compile_s + time.perf_counter() - start

    train_times, train_calls = _timed_runs(train, repeats, min_seconds)
    infer_times, _ = _timed_runs(lambda: infer_compiled(train.state, train.batch), repeats, min_seconds)
    train_s, infer_s = statistics.median(train_times), statistics.median(infer_times)
    device = jax.devices()[0]
    return {
        "model": model,
        "batch_size": batch_size,
        "input_shape": list(train.input_shape),
        "compute_dtype": compute_dtype,
        "devices": train.mesh.size,
        "device_kind": device.device_kind,
        "platform": device.platform,
        "host": platform.node(),
        "jax": jax.__version__,
        "train_images_per_s": batch_size / train_s,
        "infer_images_per_s": batch_size / infer_s,
        "train_step_ms": 1000 * train_s,
        "infer_step_ms": 1000 * infer_s,
        "steps_per_run": train_calls,
        "runs": repeats,
        "compile_s": compile_s,
        **_peak_memory_mb(),
    }


def format_table(result: dict) -> str:
    """The benchmark as aligned `label  value` lines for a terminal."""
    device = f"{result['devices']} × {result['device_kind']} ({result['platform']})"
    memory = f"{result['peak_rss_mb']:,.0f} MB resident"
    if result["peak_device_mb"] is not None:
        memory += f", {result['peak_device_mb']:,.0f} MB on device"
    rows = [
        ("model", f"{result['model']}, input {'×'.join(map(str, result['input_shape']))}, batch "
                  f"{result['batch_size']}, {result['compute_dtype']}"),
        ("devices", device),
        ("train", f"{result['train_images_per_s']:,.0f} images/s ({result['train_step_ms']:.2f} ms/step, "
                  f"median of {result['runs']} runs of {result['steps_per_run']} steps)"),
        ("inference", f"{result['infer_images_per_s']:,.0f} images/s ({result['infer_step_ms']:.2f} ms/batch)"),
        ("compile", f"{result['compile_s']:.1f} s"),
        ("peak memory", memory),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
