"""train_and_evaluate: the whole run a config describes, from data to final test metrics."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable

import jax
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from cnn import data, models
from cnn.train.metrics import MetricsWriter
from cnn.train.optim import build_optimizer, build_schedule
from cnn.train.state import TrainState, create_train_state
from cnn.train.steps import eval_step, train_step


def evaluate(state: TrainState, batches: Iterable[dict], eval_fn=None) -> dict[str, float]:
    """Mean loss, top-1 and top-5 over every unmasked example of `batches`; `count` is how many."""
    eval_fn = eval_fn or jax.jit(eval_step)
    totals = {"loss": 0.0, "top1": 0.0, "top5": 0.0, "count": 0.0}
    for batch in batches:
        for k, v in eval_fn(state, batch).items():
            totals[k] += float(v)
    count = totals.pop("count")
    return {**{k: v / count for k, v in totals.items()}, "count": int(count)}


def _total_steps(config: ml_collections.ConfigDict, per_epoch: int) -> int:
    if config.num_train_steps > 0:
        return config.num_train_steps
    if config.num_epochs <= 0:
        raise ValueError("set config.num_epochs or config.num_train_steps to a positive number")
    return round(config.num_epochs * per_epoch)


def _model_overrides(config: ml_collections.ConfigDict) -> dict:
    return {k: v for k, v in config.model.items() if k != "name"}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains the configured model, evaluating on the test split; returns the final test metrics."""
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")
    writer = MetricsWriter(workdir)

    dataset = data.load(config.dataset.name, config.dataset.data_dir or None)
    per_epoch = data.steps_per_epoch(len(dataset.train), config.batch_size)
    total_steps = _total_steps(config, per_epoch)
    eval_every = config.eval_every_steps if config.eval_every_steps > 0 else per_epoch

    model = models.create(config.model.name, num_classes=dataset.num_classes, **_model_overrides(config))
    schedule = build_schedule(config.schedule, config.optimizer.learning_rate, per_epoch, total_steps)
    tx = build_optimizer(config.optimizer, schedule)
    init_key, dropout_key = jax.random.split(jax.random.key(config.seed))
    state = create_train_state(model, tx, init_key, dataset.train.images.shape[1:])

    train_fn = jax.jit(train_step, donate_argnums=0)
    eval_fn = jax.jit(eval_step)

    def run_eval(step: int) -> dict[str, float]:
        result = evaluate(state, data.eval_batches(dataset.test, config.batch_size), eval_fn)
        writer.write({"split": "test", "step": step, "epoch": step / per_epoch, **result})
        return result

    batches = data.train_batches(dataset.train, config.batch_size, config.seed)
    window: list[dict] = []
    window_start = time.perf_counter()
    result: dict[str, float] = {}
    bar = tqdm(total=total_steps * config.batch_size, unit="img", unit_scale=True, mininterval=1.0,
               desc=f"{config.model.name} on {dataset.name}")
    for step in range(1, total_steps + 1):
        state, metrics = train_fn(state, next(batches), dropout_key)
        window.append(metrics)
        bar.update(config.batch_size)
        if step % config.log_every_steps == 0 or step == total_steps:
            means = {k: float(np.mean([m[k] for m in window])) for k in window[0]}
            elapsed = time.perf_counter() - window_start
            writer.write({
                "split": "train", "step": step, "epoch": step / per_epoch, **means,
                "learning_rate": float(schedule(step - 1)),
                "images_per_sec": len(window) * config.batch_size / elapsed,
            })
            bar.set_postfix(loss=f"{means['loss']:.4f}", epoch=f"{step / per_epoch:.2f}", refresh=False)
            window, window_start = [], time.perf_counter()
        if step % eval_every == 0 or step == total_steps:
            eval_start = time.perf_counter()
            result = run_eval(step)
            bar.write(f"step {step} (epoch {step / per_epoch:.2f}): test loss {result['loss']:.4f} "
                      f"top1 {result['top1']:.4f} top5 {result['top5']:.4f}")
            window_start += time.perf_counter() - eval_start  # images/s counts training time only
    bar.close()
    return result
