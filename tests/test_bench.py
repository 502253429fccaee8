import json
import os
import subprocess
import sys
import time

import jax
import pytest

from cnn.bench import CompiledTrainStep, benchmark, calls_lasting, format_table, time_calls

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _launch(*args):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_bench_json_is_one_parsable_object_with_positive_figures():
    proc = _launch("bench", "--model", "lenet5", "--batch-size", "16", "--repeats", "2", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["model"] == "lenet5" and result["batch_size"] == 16 and result["input_shape"] == [28, 28, 1]
    for key in ("train_images_per_s", "infer_images_per_s", "train_step_ms", "compile_s", "peak_rss_mb"):
        assert result[key] > 0, key
    # Throughput and step time are the same measurement: images/s = batch / seconds per step.
    assert result["train_images_per_s"] == pytest.approx(16 / (result["train_step_ms"] / 1000))
    assert result["runs"] == 2 and result["devices"] == 1


def test_input_size_reaches_the_model_and_the_table_names_the_setup():
    with pytest.raises(ValueError, match="C5 needs 5×5"):
        benchmark("lenet5", 8, 32, repeats=1, min_seconds=0.01)
    with pytest.raises(ValueError, match="--compute-dtype 'fp16': use one of float32, bfloat16"):
        benchmark("lenet5", 8, compute_dtype="fp16")
    result = benchmark("lenet5", 8, 28, repeats=1, min_seconds=0.01)
    table = format_table(result)
    assert "lenet5, input 28×28×1, batch 8, float32" in table and "images/s" in table and "MB resident" in table


def test_bench_of_an_unknown_model_names_the_known_ones():
    proc = _launch("bench", "--model", "lenet", "--batch-size", "8")
    assert proc.returncode == 1
    assert "error: unknown model 'lenet'. Did you mean 'lenet5'?" in proc.stderr


def test_calls_lasting_and_time_calls_measure_the_step():
    step = lambda: time.sleep(0.01)  # noqa: E731
    assert 3 <= calls_lasting(step, 0.1) <= 10  # sleep overshoots, never undershoots
    assert 0.01 <= time_calls(step, 3) < 0.1


def test_compiled_train_step_updates_its_state_on_its_batch():
    step = CompiledTrainStep("lenet5", 8, num_classes=3)
    assert step.input_shape == (28, 28, 1) and step.compile_s > 0
    assert step.state.params["output"]["kernel"].shape == (84, 3) and int(step.batch["label"].max()) < 3
    losses = [float(jax.block_until_ready(step())["loss"]) for _ in range(3)]
    assert int(step.state.step) == 3
    # SGD on one fixed batch: the loss falls.
    assert losses[2] < losses[0]
