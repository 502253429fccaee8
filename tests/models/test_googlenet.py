"""GoogLeNet against the paper's Table 1, torchvision's parameter counts and PyTorch's pooling rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnn.models
from zoo_testing import abstract, count, norm, random_input, random_variables, real_step
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
    model, shapes, x = abstract(name, 224, num_classes=10)
    _, taps, _, grads = real_step(model, random_variables(shapes), random_input(x.shape))
    assert len(taps["aux_logits"]) == 2
    assert all(np.isfinite(norm(g)) for g in grads.values())
    # Both heads and the stem get gradient: the auxiliary losses reach the network.
    assert norm(grads["aux1"]["fc2"]) > 0 and norm(grads["aux2"]["fc2"]) > 0
    assert norm(grads["conv1"]["conv"]) > 0
