"""`launch.py bench`: train-step and inference throughput of a zoo model, and peak memory.

The train step is the one training runs (`cnn.train.steps.train_step`, jitted for a mesh
over every device, state donated), with SGD + momentum on a fixed random batch already on
the device, so the figure is the model's compute, not the input pipeline. Compilation is
timed apart; each figure is the median of several timed runs of back-to-back steps.
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


def _timed_runs(step: Callable[[], object], repeats: int, min_seconds: float) -> tuple[list[float], int]:
    """Seconds per call over `repeats` runs, each of enough calls to last about `min_seconds`."""
    start = time.perf_counter()
    jax.block_until_ready(step())
    calls = max(1, round(min_seconds / max(time.perf_counter() - start, 1e-6)))
    per_call = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = step()
        jax.block_until_ready(out)
        per_call.append((time.perf_counter() - start) / calls)
    return per_call, calls


def _peak_memory_mb() -> dict[str, float | None]:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    device = None
    stats = jax.devices()[0].memory_stats()  # None on CPU
    if stats and "peak_bytes_in_use" in stats:
        device = stats["peak_bytes_in_use"] / 2**20
    return {"peak_rss_mb": rss, "peak_device_mb": device}


def benchmark(model: str, batch_size: int, input_size: int | None = None, *, compute_dtype: str = "float32",
              repeats: int = 5, min_seconds: float = 1.0) -> dict:
    """Images/s of one train step and of inference for `model` at `batch_size`, on every visible device.

    `input_size` replaces the model's default height and width (its channels are kept).
    """
    spec = models.spec(model)
    shape = (input_size, input_size, spec.input_shape[-1]) if input_size else spec.input_shape
    dtype = resolve_dtype(compute_dtype, "--compute-dtype")
    mesh = make_mesh()
    check_batch_size(batch_size, mesh)
    module = models.create(model, num_classes=spec.num_classes)
    state = create_train_state(module, optax.sgd(0.01, momentum=0.9), jax.random.key(0), shape)
    state = replicate(state, mesh)
    rng = np.random.default_rng(0)
    batch = put_batch({
        "image": rng.normal(size=(batch_size, *shape)).astype(np.float32),
        "label": rng.integers(0, spec.num_classes, batch_size).astype(np.int32),
        "mask": np.ones(batch_size, np.float32),
    }, mesh)
    train_fn = jit_train_step(functools.partial(train_step, compute_dtype=dtype), mesh)
    infer_fn = jit_eval_step(functools.partial(eval_step, compute_dtype=dtype), mesh)
    key = jax.random.key(1)

    start = time.perf_counter()
    train_compiled = train_fn.lower(state, batch, key).compile()
    infer_compiled = infer_fn.lower(state, batch).compile()
    compile_s = time.perf_counter() - start

    holder = [state]

    def one_train_step():
        holder[0], metrics = train_compiled(holder[0], batch, key)
        return metrics

    train_times, train_calls = _timed_runs(one_train_step, repeats, min_seconds)
    infer_times, _ = _timed_runs(lambda: infer_compiled(holder[0], batch), repeats, min_seconds)
    train_s, infer_s = statistics.median(train_times), statistics.median(infer_times)
    device = jax.devices()[0]
    return {
        "model": model,
        "batch_size": batch_size,
        "input_shape": list(shape),
        "compute_dtype": compute_dtype,
        "devices": mesh.size,
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
