"""train_and_evaluate: the whole run a config describes, from data to final test metrics.

Rerunning it on the same workdir continues from the latest checkpoint. Batches and dropout
are functions of (seed, step), so the continued run computes exactly what an uninterrupted
one would have. SIGTERM/SIGINT checkpoint the current step and raise RunInterrupted; a
non-finite loss raises NonFiniteLossError before any checkpoint of the bad state is written.
"""

from __future__ import annotations

import time

import ml_collections
from tqdm.auto import tqdm

from cnn import data, machine
from cnn.data.prefetch import Prefetcher
from cnn.distributed import is_lead, lead_print
from cnn.train.disk import check_free_space, check_writable, kept_checkpoints, run_headroom
from cnn.train.evaluate import evaluate_test_split
from cnn.train.guards import LossGuard, NonFiniteLossError, RunInterrupted, StopSignals
from cnn.train.metrics import MetricsWriter, TrainWindow
from cnn.train.pacing import StepPacer
from cnn.train.run import Run, build_run, check_workdir, every, write_config
from cnn.train.sharding import put_batch, replicate
from cnn.train.state import TrainState
from cnn.train.steps import all_finite
from cnn.viz import write_curves


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains the configured model, resuming from the latest checkpoint in `workdir`.

    Evaluates on the test split every `eval_every_steps` and at the end; returns the final
    test metrics. Writes `workdir/plots/curves.png` whenever it stops, and `workdir/machine.json`.
    Every metrics record carries `wall_s`, the seconds since this call began (data loading and
    compilation included); a resumed run starts counting again.
    """
    started = time.monotonic()
    check_workdir(config, workdir)
    check_writable(workdir)  # before build_run, whose checkpointer creates workdir/checkpoints
    run = build_run(config, workdir)
    try:
        check_free_space(workdir, run_headroom(run.state, kept_checkpoints(config), run.checkpointer.directory))
        write_config(config, workdir)  # only once the config has built a run, so a typo leaves no trace
        machine.record(workdir)
        # Restored straight into the mesh's layout, whatever the device count of the run that saved it.
        state = run.checkpointer.restore_latest(replicate(run.state, run.mesh), report=lead_print)
        start_step = int(state.step)
        if start_step >= run.total_steps:
            lead_print(f"{run.checkpointer.directory} already holds the final step {start_step}; evaluating it")
            return evaluate_test_split(run, state)
        writer = MetricsWriter(workdir, purge_after=start_step, started=started)
        try:
            with StopSignals() as stop:
                return _train(run, state, writer, stop)
        finally:
            writer.close()
            if is_lead():
                write_curves(workdir)
    finally:
        run.checkpointer.close()


def _train(run: Run, state: TrainState, writer: MetricsWriter, stop: StopSignals) -> dict[str, float]:
    config, checkpointer, per_epoch = run.config, run.checkpointer, run.per_epoch
    start_step, total_steps = int(state.step), run.total_steps
    eval_every = every(config.eval_every_steps, per_epoch)
    host_batches = data.train_batches(run.train_data, config.batch_size, config.seed, start_step)
    window, guard, pacer = TrainWindow(config.batch_size), LossGuard(), StepPacer()
    result: dict[str, float] = {}
    with Prefetcher(host_batches, lambda b: put_batch(b, run.mesh)) as batches, \
            tqdm(total=total_steps * config.batch_size, initial=start_step * config.batch_size, unit="img",
                 unit_scale=True, mininterval=1.0, desc=f"{config.model.name} on {run.dataset.name}",
                 disable=not is_lead()) as bar:
        say = bar.write if is_lead() else lambda line: None
        say(_describe(run))
        if start_step:
            say(f"resuming from the checkpoint of step {start_step} in {checkpointer.directory}")
        for step in range(start_step + 1, total_steps + 1):
            state, metrics = run.train_fn(state, next(batches), run.dropout_key)
            guard.add(step, metrics["loss"])
            window.add(metrics)
            bar.update(config.batch_size * pacer.add(metrics["loss"]))  # finished steps: a steady ETA
            stopping = stop.stop_at(step)
            last = step == total_steps
            save = checkpointer.should_save(step) or last or stopping
            # A train line at every checkpoint too, so a resumed run's windows are those of an uninterrupted one.
            log = step % config.log_every_steps == 0 or save
            test = step % eval_every == 0 or last
            if not (log or test or save):
                continue
            bar.update(config.batch_size * pacer.drain())
            if log:  # before the check below, so a diverged run's log ends on its non-finite window
                means = window.flush()
                writer.write({"split": "train", "step": step, "epoch": step / per_epoch, **means,
                              "learning_rate": float(run.schedule(step - 1))})
                bar.set_postfix(loss=f"{means['loss']:.4f}", epoch=f"{step / per_epoch:.2f}", refresh=False)
            # With config.nonfinite "skip" a non-finite loss is expected (its update was dropped); the run stops
            # only when the state itself broke, which skipping cannot undo. The state check syncs, so only then.
            if (bad := guard.first_nonfinite()) is not None and (
                    config.get("nonfinite", "stop") != "skip" or not all_finite(state)):
                raise NonFiniteLossError(_nonfinite_message(*bad, run, step))
            with window.paused():
                if test:
                    result = evaluate_test_split(run, state)
                    writer.write({"split": "test", "step": step, "epoch": step / per_epoch, **result})
                    say(f"step {step} (epoch {step / per_epoch:.2f}): test loss {result['loss']:.4f} "
                        f"top1 {result['top1']:.4f} top5 {result['top5']:.4f}")
                if save:
                    checkpointer.save(step, state, metrics=result if test else None, force=last or stopping)
            if stopping and not last:
                raise RunInterrupted(stop.received, step, checkpointer.directory)
    return result


def _describe(run: Run) -> str:
    first = run.mesh.devices.flat[0]
    per_device = run.config.batch_size // run.mesh.size
    return (f"training on {run.mesh.size} × {first.device_kind} ({first.platform}): global batch "
            f"{run.config.batch_size} = {run.mesh.size} × {per_device}, {run.config.compute_dtype}, "
            f"{run.total_steps} steps ({run.per_epoch} per epoch)")


def _nonfinite_message(step: int, loss: float, run: Run, checked_step: int) -> str:
    """Why the run stops: the first non-finite loss (`step`, `loss`) since the check before `checked_step`."""
    latest = run.checkpointer.latest_step()
    kept = (f"the last good checkpoint (step {latest}) is kept in {run.checkpointer.directory}" if latest is not None
            else "no checkpoint had been saved yet")
    what = f"the training loss is {loss} at step {step}"
    if run.config.get("nonfinite", "stop") == "skip":
        what = (f"the training state is no longer finite at step {checked_step} (first non-finite loss since the "
                f"last check: {loss} at step {step}); config.nonfinite 'skip' drops updates whose gradients are "
                f"not finite, but not finite ones that overflow, nor the one after "
                f"cnn.train.optim.MAX_CONSECUTIVE_SKIPS dropped in a row")
    return (f"{what}; stopped before saving that state, and {kept}. "
            f"Lower config.optimizer.learning_rate (now {run.config.optimizer.learning_rate}) or lengthen "
            f"config.schedule.warmup_epochs.")
