import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnn.models
from cnn.models.init import INITIALIZERS, reinitialize

# (shape, fan_in, fan_out) written out by hand: a Dense kernel is (in, out), a conv kernel
# (height, width, in, out), whose fans count the receptive field too. Fans differ, so mixing
# them up, or dropping the 3×3, shows.
LEAVES = {
    "dense": ((1000, 400), 1000, 400),
    "conv": ((3, 3, 128, 256), 3 * 3 * 128, 3 * 3 * 256),
}
GAUSSIAN_STD = 0.03


def _expected(name: str, fan_in: int, fan_out: int) -> tuple[float, float | None]:
    """(std, bound) from the papers' formulas; bound is a for U[-a, a] and None for normals."""
    if name == "gaussian":
        return GAUSSIAN_STD, None
    if name == "xavier":
        a = math.sqrt(6 / (fan_in + fan_out))
        return a / math.sqrt(3), a  # U[-a, a] has variance a²/3
    if name == "xavier_normal":
        return math.sqrt(2 / (fan_in + fan_out)), None
    if name == "he":
        return math.sqrt(2 / fan_in), None
    if name == "he_uniform":
        a = math.sqrt(6 / fan_in)
        return a / math.sqrt(3), a
    raise AssertionError(name)


def _variables():
    params = {leaf: {"kernel": jnp.zeros(shape), "bias": jnp.ones(shape[-1])} for leaf, (shape, _, _) in LEAVES.items()}
    params["norm"] = {"scale": jnp.arange(4.0), "bias": jnp.ones(4)}
    return {"params": params, "batch_stats": {"norm": {"mean": jnp.full(4, 0.5), "var": jnp.full(4, 2.0)}}}


@pytest.fixture(scope="module")
def drawn():
    return {name: reinitialize(_variables(), jax.random.key(0), name, std=GAUSSIAN_STD)
            for name in INITIALIZERS if name != "default"}


@pytest.mark.parametrize("leaf", sorted(LEAVES))
@pytest.mark.parametrize("name", ["gaussian", "xavier", "xavier_normal", "he", "he_uniform"])
def test_kernel_spread_matches_the_formula(drawn, name, leaf):
    shape, fan_in, fan_out = LEAVES[leaf]
    w = np.asarray(drawn[name]["params"][leaf]["kernel"], np.float64)
    std, bound = _expected(name, fan_in, fan_out)
    assert w.shape == shape
    assert w.std() == pytest.approx(std, rel=0.05)
    assert abs(w.mean()) < 0.01 * std
    if bound is not None:
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.99 * bound  # fills the interval
    else:
        # Untruncated: with ~10⁵ draws, some lie beyond 3 std (a normal truncated at 2 std has none).
        assert np.abs(w).max() > 3.5 * std


@pytest.mark.parametrize("name", ["gaussian", "xavier", "xavier_normal", "he", "he_uniform"])
def test_biases_are_zeroed_and_other_leaves_kept(drawn, name):
    out, original = drawn[name], _variables()
    for layer in ("dense", "conv", "norm"):
        np.testing.assert_array_equal(out["params"][layer]["bias"], 0.0)
    np.testing.assert_array_equal(out["params"]["norm"]["scale"], original["params"]["norm"]["scale"])
    jax.tree.map(np.testing.assert_array_equal, out["batch_stats"], original["batch_stats"])
    assert jax.tree.structure(out) == jax.tree.structure(original)


def test_default_keeps_the_models_own_initialisation():
    variables = _variables()
    assert reinitialize(variables, jax.random.key(0), "default") is variables


def test_draws_depend_on_the_key_only():
    small = {"a": {"kernel": jnp.zeros((20, 30))}, "b": {"kernel": jnp.ones((20, 30))}}
    first = reinitialize(small, jax.random.key(1), "he")
    again = reinitialize(jax.tree.map(lambda x: x + 7.0, small), jax.random.key(1), "he")
    other = reinitialize(small, jax.random.key(2), "he")
    jax.tree.map(np.testing.assert_array_equal, first, again)
    assert not np.array_equal(first["a"]["kernel"], other["a"]["kernel"])
    # Each leaf has its own key: equal shapes still get different draws.
    assert not np.array_equal(first["a"]["kernel"], first["b"]["kernel"])


def test_bad_names_and_std_are_explained():
    with pytest.raises(ValueError, match="unknown initializer 'gausian'. Did you mean 'gaussian'"):
        reinitialize(_variables(), jax.random.key(0), "gausian")
    with pytest.raises(ValueError, match="config.init.std must be positive"):
        reinitialize(_variables(), jax.random.key(0), "gaussian", std=0.0)


def test_lenet5_with_he_init():
    model = cnn.models.create("lenet5", num_classes=10)
    variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    out = reinitialize(variables, jax.random.key(3), "he")
    assert jax.tree.map(jnp.shape, out) == jax.tree.map(jnp.shape, variables)
    # fan_in = kernel height · width · input channels for C1, C3, C5; inputs for F6 and the output layer.
    fan_ins = {"c1": 5 * 5 * 1, "c3": 5 * 5 * 6, "c5": 5 * 5 * 16, "f6": 120, "output": 84}
    for layer, fan_in in fan_ins.items():
        w = np.asarray(out["params"][layer]["kernel"], np.float64)
        # The sample std of n normal draws is off by about 1/sqrt(2n) relative; allow five times that.
        assert w.std() == pytest.approx(math.sqrt(2 / fan_in), rel=5 / math.sqrt(2 * w.size)), layer
        np.testing.assert_array_equal(out["params"][layer]["bias"], 0.0)


def test_initialized_builds_the_registered_model_with_model_inits_variables():
    from cnn.models import initialized

    model, variables = initialized("lenet5", seed=3)
    expected = model.init(jax.random.key(3), jnp.zeros((1, 28, 28, 1)), train=False)
    assert model.num_classes == 10 and model.c1_padding == 2
    for got, want in zip(jax.tree.leaves(variables), jax.tree.leaves(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError, match="lenet5"):
        initialized("lenet")
