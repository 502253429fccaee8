"""train_and_evaluate: the whole run a config describes, from data to final test metrics."""

from __future__ import annotations

import os
from collections.abc import Iterable

import jax
import ml_collections
from tqdm.auto import tqdm

from cnn import data, models
from cnn.config import ConfigError
from cnn.train.checkpoint import Checkpointer
from cnn.train.metrics import MetricsWriter, TrainWindow
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


def _every(steps: int, per_epoch: int) -> int:
    """A config interval in steps; zero or less means once per epoch."""
    return steps if steps > 0 else per_epoch


def _total_steps(config: ml_collections.ConfigDict, per_epoch: int) -> int:
    if config.num_train_steps > 0:
        return config.num_train_steps
    if config.num_epochs <= 0:
        raise ConfigError("set config.num_epochs or config.num_train_steps to a positive number")
    return round(config.num_epochs * per_epoch)


def _create_model(config: ml_collections.ConfigDict, num_classes: int):
    overrides = {k: v for k, v in config.model.items() if k != "name"}
    try:
        return models.create(config.model.name, num_classes=num_classes, **overrides)
    except ValueError as e:
        raise ConfigError(f"config.model: {e}") from None


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains the configured model, resuming from the latest checkpoint in `workdir`.

    Evaluates on the test split every `eval_every_steps` and at the end; returns the final
    test metrics.
    """
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")
    writer = MetricsWriter(workdir)

    dataset = data.load(config.dataset.name, config.dataset.data_dir or None)
    try:
        per_epoch = data.steps_per_epoch(len(dataset.train), config.batch_size)
    except ValueError as e:
        raise ConfigError(f"config.batch_size: {e}") from None
    total_steps = _total_steps(config, per_epoch)
    eval_every = _every(config.eval_every_steps, per_epoch)

    model = _create_model(config, dataset.num_classes)
    schedule = build_schedule(config.schedule, config.optimizer.learning_rate, per_epoch, total_steps)
    init_key, dropout_key = jax.random.split(jax.random.key(config.seed))
    state = create_train_state(model, build_optimizer(config.optimizer, schedule), init_key,
                               dataset.train.images.shape[1:])
    checkpointer = Checkpointer(workdir, _every(config.checkpoint_every_steps, per_epoch), config.keep_checkpoints)
    train_fn = jax.jit(train_step, donate_argnums=0)
    eval_fn = jax.jit(eval_step)

    def run_eval() -> dict[str, float]:
        return evaluate(state, data.eval_batches(dataset.test, config.batch_size), eval_fn)

    try:
        state = checkpointer.restore_latest(state)
        start_step = int(state.step)
        if start_step >= total_steps:
            print(f"{checkpointer.directory} already holds the final step {start_step}; evaluating it")
            return run_eval()

        batches = data.train_batches(dataset.train, config.batch_size, config.seed, start_step)
        window = TrainWindow(config.batch_size)
        bar = tqdm(total=total_steps * config.batch_size, initial=start_step * config.batch_size,
                   unit="img", unit_scale=True, mininterval=1.0, desc=f"{config.model.name} on {dataset.name}")
        if start_step:
            bar.write(f"resuming from the checkpoint of step {start_step} in {checkpointer.directory}")
        result: dict[str, float] = {}
        for step in range(start_step + 1, total_steps + 1):
            state, metrics = train_fn(state, next(batches), dropout_key)
            window.add(metrics)
            bar.update(config.batch_size)
            if step % config.log_every_steps == 0 or step == total_steps:
                means = window.flush()
                writer.write({"split": "train", "step": step, "epoch": step / per_epoch, **means,
                              "learning_rate": float(schedule(step - 1))})
                bar.set_postfix(loss=f"{means['loss']:.4f}", epoch=f"{step / per_epoch:.2f}", refresh=False)
            with window.paused():
                if step % eval_every == 0 or step == total_steps:
                    result = run_eval()
                    writer.write({"split": "test", "step": step, "epoch": step / per_epoch, **result})
                    bar.write(f"step {step} (epoch {step / per_epoch:.2f}): test loss {result['loss']:.4f} "
                              f"top1 {result['top1']:.4f} top5 {result['top5']:.4f}")
                checkpointer.save(step, state, force=step == total_steps)
        bar.close()
        return result
    finally:
        checkpointer.close()
