"""GoogLeNet against the paper's Table 1, torchvision's parameter counts and PyTorch's pooling rules."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import cnn.models
from zoo_testing import count
from cnn.analysis import summarize

# Szegedy et al. 2015, Table 1: input channels, #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj.
TABLE1 = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}
# Table 1's "output size" column.
OUTPUT_SIZES = {
    "stem": (28, 28, 192),
    "inception_3a": (28, 28, 256),
    "inception_3b": (28, 28, 480),
    "inception_4a": (14, 14, 512),
    "inception_4b": (14, 14, 512),
    "inception_4c": (14, 14, 512),
    "inception_4d": (14, 14, 528),
    "inception_4e": (14, 14, 832),
    "inception_5a": (7, 7, 832),
    "inception_5b": (7, 7, 1024),
    "features": (1024,),
}
NAMES = ("googlenet", "googlenet_2014")
X = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)


def _variables(name, num_classes=1000, **overrides):
    model = cnn.models.create(name, num_classes=num_classes, **overrides)
    return model, jax.eval_shape(model.init, jax.random.key(0), X)


def _taps(model, variables, train: bool):
    def run(v, x):
        if train:
            return model.apply(v, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(1)})[0]
        return model.apply(v, x, train=False)
    return jax.eval_shape(run, variables, X)


@pytest.mark.parametrize("aux_logits, expected", [(False, 6_624_904), (True, 13_004_888)])
def test_googlenet_has_torchvisions_parameter_counts(aux_logits, expected):
    assert count(_variables("googlenet", aux_logits=aux_logits)[1]) == expected


def test_googlenet_2014_parameter_count_is_the_hand_count_from_table1():
    weights = 7 * 7 * 3 * 64 + 64 * 64 + 3 * 3 * 64 * 192 + 1024 * 1000
    biases = 64 + 64 + 192 + 1000
    for c_in, n1, n3r, n3, n5r, n5, proj in TABLE1.values():
        weights += c_in * (n1 + n3r + n5r + proj) + 9 * n3r * n3 + 25 * n5r * n5
        biases += n1 + n3r + n3 + n5r + n5 + proj
    # An auxiliary head: 1×1 conv 128 on its input, FC 4·4·128 → 1024, FC 1024 → 1000, with biases.
    heads = sum(c_in * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000 for c_in in (512, 528))
    assert count(_variables("googlenet_2014", aux_logits=False)[1]) == weights + biases == 6_998_552
    assert count(_variables("googlenet_2014")[1]) == weights + biases + heads == 13_378_280


def test_torchvision_variant_has_batch_norm_and_the_3x3_bug_the_paper_has_bias_and_5x5():
    torchvision = _variables("googlenet")[1]["params"]["inception_3a"]["5x5"]
    paper = _variables("googlenet_2014")[1]["params"]["inception_3a"]["5x5"]
    assert torchvision["conv"]["kernel"].shape == (3, 3, 16, 32) and "bias" not in torchvision["conv"]
    assert set(torchvision["bn"]) == {"scale", "bias"}
    assert jax.tree.map(lambda a: a.shape, paper) == {"conv": {"kernel": (5, 5, 16, 32), "bias": (32,)}}


def test_googlenet_2014_multiply_adds_match_table1_ops_column():
    # Table 1's "ops" (M): conv 7×7/2, conv 3×3 (with its reduce), 3a … 5b, linear. Its entries are
    # rounded and 5a's 54M is off (49 · 1,042,432 = 51.1M), so the sum agrees to 0.5%, not exactly.
    table1_ops = [118, 360, 128, 304, 73, 88, 100, 119, 170, 54, 71, 1]
    assert summarize("googlenet_2014").macs == pytest.approx(sum(table1_ops) * 1e6, rel=5e-3)


@pytest.mark.parametrize("name", NAMES)
def test_layer_outputs_have_table1_sizes(name):
    model, variables = _variables(name, num_classes=7)
    logits, taps = _taps(model, variables, train=False)
    assert logits.shape == (2, 7)
    assert {k: v.shape[1:] for k, v in taps.items()} == OUTPUT_SIZES


@pytest.mark.parametrize("name", NAMES)
def test_auxiliary_logits_exist_in_training_only(name):
    model, variables = _variables(name, num_classes=7)
    assert {"aux1", "aux2"} <= set(variables["params"])
    _, taps = _taps(model, variables, train=True)
    assert [a.shape for a in taps["aux_logits"]] == [(2, 7), (2, 7)]
    assert "aux_logits" not in _taps(model, variables, train=False)[1]

    model, variables = _variables(name, num_classes=7, aux_logits=False)
    assert not {"aux1", "aux2"} & set(variables["params"])
    assert "aux_logits" not in _taps(model, variables, train=True)[1]


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_in_training_at_224(name):
    model = cnn.models.create(name, num_classes=10)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 224, 224, 3)), jnp.float32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    # Random values instead of model.init, which would compile the network a second time.
    rng = np.random.default_rng(1)
    variables = jax.tree.map(lambda s: (0.05 * rng.normal(size=s.shape) + (s.ndim == 1)).astype(np.float32), shapes)

    def loss(params):
        (logits, taps), _ = model.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"],
                                        rngs={"dropout": jax.random.key(2)})
        total = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.array([3])).mean()
        for aux in taps["aux_logits"]:
            total += 0.3 * optax.softmax_cross_entropy_with_integer_labels(aux, jnp.array([3])).mean()
        return total

    # The test is that training runs, not how fast: LLVM's optimisations off compile 2-3× faster on CPU.
    step = jax.jit(jax.grad(loss)).lower(variables["params"]).compile({"xla_backend_optimization_level": 0})
    grads = step(variables["params"])
    grads = jax.tree.map(np.asarray, grads)  # checked in numpy: a jnp check compiles once per leaf shape
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
    # Both heads and the stem get gradient: the auxiliary losses reach the network.
    for head in ("aux1", "aux2"):
        assert np.abs(grads[head]["fc2"]["kernel"]).max() > 0
    assert np.abs(grads["conv1"]["conv"]["kernel"]).max() > 0


