"""Test-set evaluation: of a train state, and of a saved checkpoint (`launch.py eval`)."""

from __future__ import annotations

import os
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import ml_collections

from cnn import data
from cnn.data.prefetch import Prefetcher
from cnn.train.checkpoint import CheckpointError
from cnn.train.metrics import MetricsWriter
from cnn.train.run import Run, build_run, check_workdir
from cnn.train.sharding import put_batch, replicate
from cnn.train.state import TrainState
from cnn.train.steps import eval_step


def evaluate(state: TrainState, batches: Iterable[dict], eval_fn=None) -> dict[str, float]:
    """Mean loss, top-1 and top-5 over every unmasked example of `batches`; `count` is how many."""
    eval_fn = eval_fn or jax.jit(eval_step)
    # Summed on the device and fetched once: a fetch per batch would wait for each batch in turn.
    sums = None
    for batch in batches:
        out = eval_fn(state, batch)
        sums = out if sums is None else jax.tree.map(jnp.add, sums, out)
    if sums is None:
        raise ValueError("evaluate got no batches; the test split is empty")
    totals = {k: float(v) for k, v in jax.device_get(sums).items()}
    count = totals.pop("count")
    return {**{k: v / count for k, v in totals.items()}, "count": int(count)}


def evaluate_test_split(run: Run, state: TrainState) -> dict[str, float]:
    """`evaluate` over the test split of `run`'s dataset, in global batches of the config's size on its mesh."""
    host_batches = data.eval_batches(run.test_data, run.config.batch_size)
    with Prefetcher(host_batches, lambda b: put_batch(b, run.mesh)) as batches:
        return evaluate(state, batches, run.eval_fn)


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str, which: str = "latest") -> dict:
    """Evaluates the checkpoint `which` (latest, best or a step) of `workdir` on the test split.

    Appends the result to `workdir/metrics.jsonl` with `"checkpoint": which` and returns it.
    """
    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        raise CheckpointError(f"no checkpoints in {os.path.abspath(workdir)}; train first (launch.py train)")
    check_workdir(config, workdir)
    run = build_run(config, workdir)
    try:
        step = run.checkpointer.resolve(which)
        state = replicate(run.checkpointer.restore(run.state, step), run.mesh)
    finally:
        run.checkpointer.close()
    result = evaluate_test_split(run, state)
    record = {"split": "test", "step": step, "epoch": step / run.per_epoch, **result, "checkpoint": which}
    writer = MetricsWriter(workdir)
    writer.write(record)
    writer.close()
    return record
