"""torchvision references for the import tests: loaded without its compiled ops, every parameter random.

torch and torchvision are development tools here, not dependencies: where they are missing (CI) the tests
that need them skip, saying why.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnn.models
from cnn.transfer.torchvision import import_torchvision

# Each graph is compiled once and run once: XLA's CPU optimisations would cost more than they save.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True,
                "xla_cpu_use_fusion_emitters": False}

# The "torchvision" op library declared by hand; kept alive for the process, as torch requires.
_LIBRARY = []


def torchvision_or_skip():
    """The torchvision module, or pytest.skip when torch or torchvision is not installed.

    The installed torchvision's compiled ops may be a CUDA build that cannot load on this machine; its
    Python code declares two op schemas unconditionally at import, so they are declared here first and
    the compiled library is never needed by the classification models.
    """
    try:
        import torch
    except ImportError:
        pytest.skip("torch is not installed (a development-only reference, absent in CI)")
    if not _LIBRARY:
        library = torch.library.Library("torchvision", "DEF")
        library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        library.define("qnms(Tensor qdets, Tensor qscores, float iou_threshold) -> Tensor")
        _LIBRARY.append(library)
    try:
        import torchvision
    except ImportError:
        pytest.skip("torchvision is not installed (a development-only reference, absent in CI)")
    return torchvision


def randomize(module, seed: int, gamma: tuple[float, float] = (0.5, 1.5)) -> None:
    """Weights U(±sqrt(6/fan_in)) (He: ReLU networks keep their scale), BN γ U(`gamma`) and running variances
    U(0.5, 1.5), biases, β and running means N(0, 0.2²), from a torch Generator: fresh batch norms (γ = 1,
    β = 0, mean 0, var 1) are nearly the identity, so one paired with the wrong layer would go unnoticed."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    state = module.state_dict(keep_vars=True)
    norms = {key.rpartition(".")[0] for key in state if key.endswith(".running_var")}
    with torch.no_grad():
        for key, tensor in state.items():
            prefix, _, leaf = key.rpartition(".")
            if leaf == "num_batches_tracked":
                continue
            if leaf == "running_var":
                tensor.uniform_(0.5, 1.5, generator=generator)
            elif leaf == "weight" and prefix in norms:
                tensor.uniform_(*gamma, generator=generator)
            elif leaf == "weight":
                bound = math.sqrt(6 / math.prod(tensor.shape[1:]))
                tensor.uniform_(-bound, bound, generator=generator)
            else:
                tensor.normal_(0.0, 0.2, generator=generator)


def torch_reference(builder: str, seed: int = 0, gamma: tuple[float, float] = (0.5, 1.5), **kwargs):
    """torchvision.models.<builder>(num_classes=10, **kwargs), randomised (`randomize`), in eval mode."""
    torchvision = torchvision_or_skip()
    model = getattr(torchvision.models, builder)(num_classes=10, **kwargs)
    randomize(model, seed, gamma)
    return model.eval()


def assert_same_logits(reference, name: str, size: int, **overrides) -> float:
    """Imports `reference`'s state dict into zoo model `name`, compares eval logits on random images; returns
    the largest error relative to max |theirs|."""
    import torch

    x = np.random.default_rng(1).normal(size=(2, size, size, 3)).astype(np.float32)
    with torch.no_grad():
        theirs = reference(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    variables = import_torchvision(reference.state_dict(), name, **overrides)
    model = cnn.models.create(name, num_classes=theirs.shape[-1], **overrides)
    apply = jax.jit(lambda v, inputs: model.apply(v, inputs, train=False)[0], compiler_options=FAST_COMPILE)
    ours = np.asarray(apply(variables, jnp.asarray(x)))
    scale = np.abs(theirs).max()
    assert theirs.shape == (2, 10) and np.abs(theirs).std() > 1e-3
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * scale)
    return float(np.abs(ours - theirs).max() / scale)
