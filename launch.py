r"""The one entry point: parses flags and calls one library function per mode.

    python launch.py train --config experiments/fashion_mnist/lenet5.py --workdir runs/lenet5 \
        [--config.optimizer.learning_rate=0.05 ...]
    python launch.py eval --config experiments/fashion_mnist/lenet5.py --workdir runs/lenet5 \
        [--checkpoint=latest|best|STEP]
    python launch.py curves --workdir runs/lenet5
    python launch.py bench --model lenet5 --batch-size 256 [--input-size 32] [--compute-dtype bfloat16] [--json]
    python launch.py summary --model resnet50 [--input-size 224] [--depth 2] [--json]
    python launch.py analyze --model resnet50 [--input-size 224] [--depth 2] [--json] [--plot DIR]
    python launch.py analyze --checkpoint runs/lenet5 [--json] [--plot DIR]
    python launch.py visualize --workdir runs/lenet5 --method gradcam [--index 0,1,2] [--layer c3] [--class K] \
        --out DIR
    python launch.py visualize --model resnet50 --image photo.png --method guided_backprop --out DIR
    python launch.py transfer --config experiments/transfer/lenet5.py:digits --source runs/lenet5_source \
        --workdir runs/lenet5_digits [--config.transfer.strategy=freeze ...]
    python launch.py probe --config experiments/transfer/lenet5.py:digits --source runs/lenet5_source [--json]

Several processes (hosts, or GPUs each with its own process) run the same train command, each
with --coordinator-address HOST:PORT --num-processes N --process-id I, or with --distributed
where JAX detects the cluster (Slurm, Open MPI, Kubernetes, Cloud TPU): see cnn/distributed.py.

Exit codes: 0 done (or stopped by SIGTERM after checkpointing), 1 an error the message explains,
130 stopped by ctrl-C (SIGINT) after checkpointing.
"""

from __future__ import annotations

import json
import signal
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from cnn.config import ConfigError, check_overrides

MODES = ("train", "eval", "curves", "bench", "summary", "analyze", "visualize", "transfer", "probe")

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file, path[:arg].", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for config.json, metrics.jsonl and checkpoints.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "latest", "eval, visualize: which checkpoint, latest, best or a step; "
                                  "analyze: a run's workdir, whose latest checkpoint and test images are analysed.")
_MODEL = flags.DEFINE_string("model", None, "bench, summary, analyze, visualize: the model's registered name.")
_BATCH_SIZE = flags.DEFINE_integer("batch-size", 256, "bench: global batch size.", lower_bound=1)
_INPUT_SIZE = flags.DEFINE_integer("input-size", None,
                                   "bench, summary, analyze, visualize: input height and width (default: the "
                                   "model's).",
                                   lower_bound=1)
_COMPUTE_DTYPE = flags.DEFINE_enum("compute-dtype", "float32", ["float32", "bfloat16"], "bench: compute precision.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "bench: timed runs; the median is reported.", lower_bound=1)
_JSON = flags.DEFINE_bool("json", False, "bench, summary, analyze, probe: print JSON instead of a table (summary, "
                          "analyze, probe: one object per line).")
_DEPTH = flags.DEFINE_integer("depth", 1, "summary, analyze: list modules down to this many levels below the model.",
                              lower_bound=1)
_PLOT = flags.DEFINE_string("plot", None, "analyze: also measure the effective receptive field and write "
                            "effective_field.png and receptive_field.png into this folder.")
_SAMPLES = flags.DEFINE_integer("samples", 16, "analyze --plot: inputs the effective field is averaged over.",
                                lower_bound=1)

_SOURCE = flags.DEFINE_string("source", None, "transfer, probe: what to start from, a run's workdir or a weights "
                              "file (.keras, .h5, .pth, .pt, .npz); sets config.transfer.source.")
_METHOD = flags.DEFINE_string("method", None, "visualize: feature_maps, filters, filter_evolution, saliency, "
                              "activation_max, deconvnet, guided_backprop, occlusion, cam, gradcam, top_patches, "
                              "curves or confusion.")
_OUT = flags.DEFINE_string("out", None, "visualize: folder for the PNGs and .npy arrays.")
_IMAGE = flags.DEFINE_string("image", None, "visualize: an image file (PNG, JPEG or .npy) to explain instead of "
                             "test images; required with --model.")
_INDEX = flags.DEFINE_list("index", ["0"], "visualize: which test images of the run's dataset, e.g. 0,1,2.")
_LAYER = flags.DEFINE_string("layer", None, "visualize: a tap (c3, stage4) or module path (stage4_block2/conv3); "
                             "default: the method's own.")
_CLASS = flags.DEFINE_integer("class", None, "visualize: the class to explain (default: each image's prediction).",
                              lower_bound=0)
_UNIT = flags.DEFINE_integer("unit", None, "visualize: a channel of --layer (top_patches, activation_max, filters; "
                             "saliency, deconvnet and guided_backprop then send back its strongest unit).",
                             lower_bound=0)
_PATCH = flags.DEFINE_integer("patch", None, "visualize occlusion: the grey square's side (default: a seventh of the "
                              "image's side).", lower_bound=1)
_STRIDE = flags.DEFINE_integer("stride", None, "visualize occlusion: its step (default: half the patch).",
                               lower_bound=1)
_COORDINATOR = flags.DEFINE_string("coordinator-address", None, "Several processes: HOST:PORT of process 0's "
                                   "coordinator (or $JAX_COORDINATOR_ADDRESS).")
_NUM_PROCESSES = flags.DEFINE_integer("num-processes", None, "Several processes: how many (or $JAX_NUM_PROCESSES).",
                                      lower_bound=1)
_PROCESS_ID = flags.DEFINE_integer("process-id", None, "Several processes: this one's index, 0 to num_processes - 1 "
                                   "(or $JAX_PROCESS_ID).", lower_bound=0)
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Join the other processes of a cluster JAX detects (Slurm, "
                                 "Open MPI, Kubernetes, Cloud TPU) without the three flags above.")


def _parse_flags(argv: list[str]) -> list[str]:
    try:
        check_overrides(argv)
    except ConfigError as e:
        sys.exit(f"error: {e}")
    return flags.FLAGS(argv)


def _print_metrics(prefix: str, result: dict) -> None:
    from cnn.distributed import lead_print

    lead_print(f"{prefix}top1 {result['top1']:.4f} top5 {result['top5']:.4f} loss {result['loss']:.4f} "
               f"over {result['count']} images")


def _bench() -> None:
    from cnn.bench import benchmark, format_table

    try:
        result = benchmark(_MODEL.value, _BATCH_SIZE.value, _INPUT_SIZE.value, compute_dtype=_COMPUTE_DTYPE.value,
                           repeats=_REPEATS.value)
    except ValueError as e:  # an unknown model, or a batch the devices do not divide
        sys.exit(f"error: {e}")
    print(json.dumps(result) if _JSON.value else format_table(result))


def _summary() -> None:
    from cnn.analysis import format_summary, summarize, summary_json

    try:
        summary = summarize(_MODEL.value, _INPUT_SIZE.value, depth=_DEPTH.value)
    except ValueError as e:  # an unknown model, or an input size the architecture cannot take
        sys.exit(f"error: {e}")
    print("\n".join(map(json.dumps, summary_json(summary))) if _JSON.value else format_summary(summary))


def _analyze() -> None:
    from cnn.analysis import analyze, analyze_module, format_report, report_json

    try:
        if flags.FLAGS["checkpoint"].present:
            from cnn.train.trained import load_trained

            trained = load_trained(_CHECKPOINT.value)
            if _MODEL.value not in (None, trained.config.model.name):
                raise ValueError(f"--model {_MODEL.value} but {_CHECKPOINT.value} trained {trained.config.model.name}; "
                                 "leave --model out with --checkpoint")
            name = trained.config.model.name
            report = analyze_module(trained.model, trained.dataset.image_shape, depth=_DEPTH.value, name=name)
            weights = lambda: (trained.model, trained.variables, trained.test_images)  # noqa: E731
        else:
            report = analyze(_MODEL.value, _INPUT_SIZE.value, depth=_DEPTH.value)
            weights = lambda: _random_model(_MODEL.value, report.input_shape)  # noqa: E731
        extra = _effective_field(report, *weights()) if _PLOT.value else {}
    except ValueError as e:  # an unknown model, an input the architecture cannot take, a damaged workdir
        sys.exit(f"error: {e}")
    if _JSON.value:
        print("\n".join(map(json.dumps, report_json(report, extra))))
    else:
        print(format_report(report))
        for key, value in extra.items():
            print(f"{key}: {value}")


def _random_model(name: str, input_shape: tuple[int, ...]):
    """The registered model with fresh initial weights, and standard-normal inputs for its effective field."""
    import jax

    from cnn.models.registry import initialized

    model, variables = initialized(name, input_shape)
    return model, variables, lambda n: jax.random.normal(jax.random.key(1), (n, *input_shape))


def _effective_field(report, model, variables, inputs) -> dict:
    import os

    from cnn.analysis.effective_field import effective_field
    from cnn.analysis.report import depth_series
    from cnn.viz.fields import plot_effective_field, plot_field_growth

    erf = effective_field(model, variables, inputs(_SAMPLES.value), report.final.layer, fields=report.fields)
    paths = [plot_effective_field(erf, os.path.join(_PLOT.value, "effective_field.png"),
                                  f"{report.model}: effective field of {erf.layer}, unit {erf.unit}"),
             plot_field_growth({report.model: depth_series(report.fields)},
                               os.path.join(_PLOT.value, "receptive_field.png"), input_size=report.input_shape[0])]
    return {"erf_layer": erf.layer, "erf_unit": list(erf.unit), "erf_radius50": erf.radius50,
            "erf_radius95": erf.radius95, "erf_samples": _SAMPLES.value, "plots": paths}


def _visualize() -> None:
    from cnn.data import DatasetError
    from cnn.viz.subject import from_model, from_run
    from cnn.viz.visualize import Options, visualize

    if _WORKDIR.value is None and _IMAGE.value is None:
        raise app.UsageError("visualize --model NAME needs --image FILE (a random-weight model has no test set)")
    try:
        indices = [int(i) for i in _INDEX.value]
        if not indices:
            raise ValueError
    except ValueError:
        sys.exit(f"error: --index takes test-image numbers separated by commas, got {','.join(_INDEX.value)}")
    try:
        if _WORKDIR.value is not None:
            subject = from_run(_WORKDIR.value, _CHECKPOINT.value, indices, _IMAGE.value)
        else:
            subject = from_model(_MODEL.value, _IMAGE.value, _INPUT_SIZE.value)
        options = Options(layer=_LAYER.value, class_index=_CLASS.value, unit=_UNIT.value, patch=_PATCH.value,
                          stride=_STRIDE.value)
        paths = visualize(subject, _METHOD.value, _OUT.value, options)
    except (ValueError, ConfigError, DatasetError) as e:  # a bad flag value, an unknown layer, a damaged workdir
        sys.exit(f"error: {e}")
    for path in paths:
        print(f"wrote {path}")


def _probe() -> None:
    from cnn.data import DatasetError
    from cnn.train.checkpoint import CheckpointError
    from cnn.transfer.source_probes import probe_source

    try:
        table = probe_source(_CONFIG.value)
    except (ValueError, ConfigError, DatasetError, CheckpointError) as e:
        sys.exit(f"error: {e}")
    print("\n".join(json.dumps(row) for row in table.rows()) if _JSON.value else table.markdown())


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in MODES:
        raise app.UsageError(f"give exactly one mode, one of {', '.join(MODES)}; got {argv[1:]}")
    mode = argv[1]
    if not flags.FLAGS["verbosity"].present:
        # absl logs INFO by default, which buries the progress bar under library chatter; -v 0 restores it.
        logging.set_verbosity(logging.WARNING)
    from cnn import compile_cache, distributed  # here, not at the top: jax's import would slow --help

    try:  # before anything touches a device
        distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value, _DISTRIBUTED.value)
    except distributed.DistributedError as e:
        sys.exit(f"error: {e}")
    compile_cache.enable()
    if mode == "visualize":
        if (_MODEL.value is None) == (_WORKDIR.value is None) or _METHOD.value is None or _OUT.value is None:
            raise app.UsageError("visualize needs --method, --out and one of --workdir DIR or --model NAME")
        return _visualize()
    if mode == "analyze":
        if _MODEL.value is None and not flags.FLAGS["checkpoint"].present:
            raise app.UsageError("analyze needs --model NAME or --checkpoint WORKDIR")
        return _analyze()
    if mode in ("transfer", "probe"):
        if _SOURCE.value is None or _CONFIG.value is None or (mode == "transfer" and _WORKDIR.value is None):
            needs = "--config and --source" + (" and --workdir" if mode == "transfer" else "")
            raise app.UsageError(f"{mode} needs {needs}")
        if "transfer" not in _CONFIG.value:
            sys.exit(f"error: {flags.FLAGS['config'].config_filename} has no config.transfer section; use a config "
                     "from experiments/transfer/")
        _CONFIG.value.transfer.source = _SOURCE.value
        if mode == "probe":
            return _probe()
    if mode in ("bench", "summary"):
        if _MODEL.value is None:
            raise app.UsageError(f"{mode} needs --model NAME")
        if mode == "summary":
            return _summary()
    elif _WORKDIR.value is None or (_CONFIG.value is None and mode != "curves"):
        raise app.UsageError("--workdir is required, and --config for train and eval")
    # Imported here so that --help and flag errors stay fast.
    from cnn.data import DatasetError
    from cnn.train import CheckpointError, NonFiniteLossError, RunInterrupted, evaluate_checkpoint, train_and_evaluate
    from cnn.viz import write_curves

    try:
        if mode in ("train", "transfer"):
            _print_metrics("test ", train_and_evaluate(_CONFIG.value, _WORKDIR.value))
        elif mode == "eval":
            result = evaluate_checkpoint(_CONFIG.value, _WORKDIR.value, _CHECKPOINT.value)
            _print_metrics(f"checkpoint {_CHECKPOINT.value} (step {result['step']}): test ", result)
        elif mode == "bench":
            _bench()
        elif (path := write_curves(_WORKDIR.value)) is None:
            sys.exit(f"error: no metrics in {_WORKDIR.value}/metrics.jsonl yet; train first (launch.py train)")
        else:
            print(f"wrote {path}")
    except RunInterrupted as e:
        distributed.lead_print(str(e))
        sys.exit(130 if e.signum == signal.SIGINT else 0)
    except (ConfigError, DatasetError, CheckpointError, NonFiniteLossError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
