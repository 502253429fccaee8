"""Where the train step's time goes: one convolution's forward pass, input gradient and kernel gradient,
in cnn and in PyTorch, measured side by side in one process.

    python -m benchmarks.conv_layers [--layers "resnet20 stage 1,lenet5 C3"] [--rounds 7] [--json PATH] [--quick]

The layers are those that make up the models `benchmarks.compare` times, at its batch sizes: a 3×3
convolution of each CIFAR ResNet-20 stage (16, 32 and 64 channels at 32, 16 and 8 pixels) and LeNet-5's
C3. cnn's three parts are jitted functions of `cnn.layers.correlate` and `jax.vjp` of it, so they take the
fast paths training takes (`cnn/layers/fast_paths.py`); PyTorch's are `F.conv2d` and
`torch.nn.grad.conv2d_input`/`conv2d_weight` (autograd's own kernels), in the memory format (NCHW or
channels_last) faster for the layer here. Rounds alternate as in `benchmarks.compare`; the figures are
median milliseconds per call, GFLOP/s (2 × multiply-adds, the same count for all three parts) and the
speed ratio cnn/PyTorch (above 1: cnn is faster).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.compare import busy_note, parse_runner_args, read_json, runner_setup, write_json
from cnn.bench import calls_lasting, time_calls
from cnn.layers import correlate

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv_layers.json")
# layer: (batch, input height = width, input channels, output channels, kernel size, zero padding per side)
LAYERS = {
    "resnet20 stage 1": (128, 32, 16, 16, 3, 1),
    "resnet20 stage 2": (128, 16, 32, 32, 3, 1),
    "resnet20 stage 3": (128, 8, 64, 64, 3, 1),
    "lenet5 C3": (256, 14, 6, 16, 5, 0),
}
PARTS = ("forward", "input gradient", "kernel gradient")
QUICK_BATCH, QUICK_SECONDS = 4, 0.05

Layer = tuple[int, int, int, int, int, int]


def _output_size(layer: Layer) -> int:
    _, size, _, _, k, pad = layer
    return size + 2 * pad - k + 1


def _arrays(layer: Layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random NHWC input, HWIO kernel and output cotangent of the layer."""
    batch, size, c_in, c_out, k, _ = layer
    out = _output_size(layer)
    rng = np.random.default_rng(0)
    return (rng.standard_normal((batch, size, size, c_in), np.float32),
            rng.standard_normal((k, k, c_in, c_out), np.float32) / np.float32(np.sqrt(k * k * c_in)),
            rng.standard_normal((batch, out, out, c_out), np.float32))


def multiply_adds(layer: Layer) -> int:
    batch, _, c_in, c_out, k, _ = layer
    return batch * _output_size(layer) ** 2 * k * k * c_in * c_out


def cnn_parts(layer: Layer) -> dict[str, Callable[[], jax.Array]]:
    """The layer's three parts in cnn, each a call without arguments on fixed device arrays."""
    x, w, g = map(jnp.asarray, _arrays(layer))
    conv = partial(correlate, padding=layer[5])
    forward = jax.jit(conv)
    input_gradient = jax.jit(lambda x, w, g: jax.vjp(lambda a: conv(a, w), x)[1](g)[0])
    kernel_gradient = jax.jit(lambda x, w, g: jax.vjp(lambda b: conv(x, b), w)[1](g)[0])
    return {"forward": partial(forward, x, w), "input gradient": partial(input_gradient, x, w, g),
            "kernel gradient": partial(kernel_gradient, x, w, g)}


def torch_parts(layer: Layer, memory_format: str) -> dict[str, Callable[[], object]]:
    """The same three parts in PyTorch, on the same arrays laid out in `memory_format`; results NHWC."""
    import torch
    import torch.nn.functional as F
    from torch.nn import grad

    from benchmarks.torch_models import MEMORY_FORMATS

    torch.set_num_threads(os.cpu_count())
    layout = MEMORY_FORMATS[memory_format]
    x, w, g = (torch.from_numpy(a.transpose(order).copy()).contiguous(memory_format=layout)
               for a, order in zip(_arrays(layer), [(0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2)]))
    pad = layer[5]

    @torch.no_grad()
    def forward():
        return F.conv2d(x, w, padding=pad)

    return {"forward": forward,
            "input gradient": lambda: grad.conv2d_input(x.shape, w, g, padding=pad),
            "kernel gradient": lambda: grad.conv2d_weight(x, w.shape, g, padding=pad)}


def _faster_torch_format(layer: Layer, seconds: float) -> tuple[str, dict[str, Callable[[], object]]]:
    """PyTorch's memory format with the smaller sum of the three parts' times here, and its parts."""
    from benchmarks.torch_models import MEMORY_FORMATS

    timed = []
    for memory_format in MEMORY_FORMATS:
        parts = torch_parts(layer, memory_format)
        total = sum(time_calls(part, calls_lasting(part, seconds)) for part in parts.values())
        timed.append((total, memory_format, parts))
    _, memory_format, parts = min(timed, key=lambda t: t[0])
    return memory_format, parts


def measure_layer(name: str, layer: Layer, *, rounds: int, seconds: float, with_torch: bool) -> dict:
    """Median ms per call of each part in both frameworks, over `rounds` alternating runs of about `seconds`."""
    frameworks = {"cnn": cnn_parts(layer)}
    memory_format = None
    if with_torch:
        memory_format, frameworks["PyTorch"] = _faster_torch_format(layer, seconds)
    parts = {}
    for part in PARTS:
        calls = {fw: calls_lasting(f[part], seconds) for fw, f in frameworks.items()}  # also compiles cnn's
        ms = {fw: [] for fw in frameworks}
        for _ in range(rounds):
            for fw, f in frameworks.items():
                ms[fw].append(1e3 * time_calls(f[part], calls[fw]))
        cnn_ms = statistics.median(ms["cnn"])
        torch_ms = statistics.median(ms["PyTorch"]) if with_torch else None
        parts[part] = {"cnn_ms": cnn_ms, "torch_ms": torch_ms, "ratio": torch_ms / cnn_ms if with_torch else None,
                       "cnn_rounds": ms["cnn"], "torch_rounds": ms.get("PyTorch")}
        print(f"  {name}, {part}: cnn {cnn_ms:.2f} ms" + (f", PyTorch {torch_ms:.2f} ms" if with_torch else ""),
              flush=True)
    batch, size, c_in, c_out, k, pad = layer
    return {"layer": name, "batch": batch, "input": [size, size, c_in], "output_channels": c_out, "kernel": k,
            "padding": pad, "multiply_adds": multiply_adds(layer), "torch_memory_format": memory_format,
            "parts": parts}


def results_table(path: str = RESULTS) -> str:
    """The Markdown table of a `benchmarks.conv_layers` JSON: ms, GFLOP/s and cnn/PyTorch per part."""
    results = read_json(path)
    if results is None:
        return "No per-layer figures yet: run `.venv/bin/python -m benchmarks.conv_layers` to measure them."
    rows = ["| layer | batch | input → output | part | cnn ms (GFLOP/s) | PyTorch ms (GFLOP/s) | cnn / PyTorch |",
            "| --- | ---: | --- | --- | ---: | ---: | ---: |"]
    for layer in results["layers"]:
        shape = (f"{'×'.join(map(str, layer['input']))} → {layer['output_channels']}, "
                 f"{layer['kernel']}×{layer['kernel']}")
        gflop = 2 * layer["multiply_adds"] / 1e9
        for part, figures in layer["parts"].items():
            torch_ms = figures["torch_ms"]
            torch_cell = "—" if torch_ms is None else f"{torch_ms:.2f} ({gflop / torch_ms * 1e3:.0f})"
            ratio = "—" if figures["ratio"] is None else f"{figures['ratio']:.2f}"
            rows.append(f"| {layer['layer']} | {layer['batch']} | {shape} | {part} | "
                        f"{figures['cnn_ms']:.2f} ({gflop / figures['cnn_ms'] * 1e3:.0f}) | {torch_cell} | {ratio} |")
    m = results["machine"]
    notes = " A `--quick` smoke run: not figures to quote." if results["quick"] else ""
    notes += busy_note(m)
    torch_version = f"torch {m['torch']}" if m["torch"] else "torch not installed"
    rows.append(f"\nMedian of {results['rounds']} alternating rounds, float32, on {m['cpu']} ({m['cores']} cores), "
                f"jax {m['jax']}, {torch_version}; {m['date'][:10]}.{notes}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict:
    """Measures the layers the command line names, prints them, writes their JSON and returns it."""
    args = parse_runner_args(argv, module="benchmarks.conv_layers", doc=__doc__, option="layers", choices=list(LAYERS),
                             results=RESULTS, quick=(QUICK_BATCH, QUICK_SECONDS))
    torch_models, setup = runner_setup()
    seconds = QUICK_SECONDS if args.quick else 0.5
    layers = [measure_layer(name, (QUICK_BATCH, *LAYERS[name][1:]) if args.quick else LAYERS[name], rounds=args.rounds,
                            seconds=seconds, with_torch=torch_models is not None) for name in args.layers]
    results = {"machine": setup, "rounds": args.rounds, "quick": args.quick, "layers": layers}
    if args.json:
        write_json(results, args.json)
        print(results_table(args.json))
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
