"""Inception v3 against torchvision's parameter counts and the paper's grid sizes (Szegedy et al. 2016)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnn.models
from zoo_testing import abstract, norm, random_input, random_variables, real_step

X = jax.ShapeDtypeStruct((2, 299, 299, 3), jnp.float32)
# Grid sizes of the paper's Table 1 (35×35×288 after the three 35×35 modules, 17×17×768 after the
# five 17×17 ones, 8×8×2048 at the end) and, in between, torchvision's shape comments.
OUTPUT_SIZES = {
    "stem": (35, 35, 192),
    "Mixed_5b": (35, 35, 256),
    "Mixed_5c": (35, 35, 288),
    "Mixed_5d": (35, 35, 288),
    "Mixed_6a": (17, 17, 768),
    "Mixed_6b": (17, 17, 768),
    "Mixed_6c": (17, 17, 768),
    "Mixed_6d": (17, 17, 768),
    "Mixed_6e": (17, 17, 768),
    "Mixed_7a": (8, 8, 1280),
    "Mixed_7b": (8, 8, 2048),
    "Mixed_7c": (8, 8, 2048),
    "features": (2048,),
}


def _variables(num_classes=1000, x=X, **overrides):
    model = cnn.models.create("inception_v3", num_classes=num_classes, **overrides)
    return model, jax.eval_shape(model.init, jax.random.key(0), x)


def _taps(model, variables, train: bool, x=X):
    def run(v, inputs):
        if train:
            return model.apply(v, inputs, train=True, mutable=["batch_stats"],
                               rngs={"dropout": jax.random.key(1)})[0]
        return model.apply(v, inputs, train=False)
    return jax.eval_shape(run, variables, x)


@pytest.mark.parametrize("aux_logits, expected", [(False, 23_834_568), (True, 27_161_264)])
def test_torchvisions_parameter_counts(aux_logits, expected):
    _, variables = _variables(aux_logits=aux_logits)
    assert sum(leaf.size for leaf in jax.tree.leaves(variables["params"])) == expected


def test_module_outputs_have_the_papers_grid_sizes():
    model, variables = _variables(num_classes=7)
    logits, taps = _taps(model, variables, train=False)
    assert logits.shape == (2, 7)
    assert {k: v.shape[1:] for k, v in taps.items()} == OUTPUT_SIZES


def test_auxiliary_logits_exist_in_training_only():
    model, variables = _variables(num_classes=7)
    assert "AuxLogits" in variables["params"]
    assert [a.shape for a in _taps(model, variables, train=True)[1]["aux_logits"]] == [(2, 7)]
    assert "aux_logits" not in _taps(model, variables, train=False)[1]

    model, variables = _variables(num_classes=7, aux_logits=False)
    assert "AuxLogits" not in variables["params"]
    assert "aux_logits" not in _taps(model, variables, train=True)[1]


def test_small_inputs_run_without_the_auxiliary_head_and_the_error_says_so():
    small = jax.ShapeDtypeStruct((1, 75, 75, 3), jnp.float32)
    model, variables = _variables(num_classes=7, x=small, aux_logits=False)
    assert _taps(model, variables, train=True, x=small)[1]["Mixed_7c"].shape == (1, 1, 1, 2048)
    with pytest.raises(ValueError, match=r"needs the 17×17 grid of a 299×299 input, got 3×3; pass aux_logits=False"):
        _variables(num_classes=7, x=small)


def test_forward_backward_in_training_at_299():
    model, shapes, x = abstract("inception_v3", 299, num_classes=10)
    _, taps, _, grads = real_step(model, random_variables(shapes), random_input(x.shape))
    assert len(taps["aux_logits"]) == 1
    assert all(np.isfinite(norm(g)) for g in grads.values())
    assert norm(grads["AuxLogits"]["fc"]) > 0 and norm(grads["Conv2d_1a_3x3"]["conv"]) > 0
