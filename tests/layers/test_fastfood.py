"""The Walsh–Hadamard transform against scipy's Hadamard matrix, and the Adaptive Fastfood layer against
the dense matrix S H G Π H B built in numpy from its own diagonals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import hadamard

from cnn.layers.fastfood import AdaptiveFastfood, fastfood_permutations, fwht


@pytest.mark.parametrize("d", [1, 2, 4, 8, 64, 1024])
def test_fwht_is_the_product_with_scipys_hadamard_matrix(d):
    x = np.random.default_rng(d).normal(size=(3, 2, d))
    expected = x @ hadamard(d)
    np.testing.assert_allclose(fwht(jnp.asarray(x, jnp.float32)), expected, rtol=1e-5, atol=1e-5 * np.sqrt(d))


def test_fwht_jits_and_differentiates_as_the_matrix():
    d = 16
    x = np.random.default_rng(0).normal(size=(4, d)).astype(np.float32)
    w = np.random.default_rng(1).normal(size=(4, d)).astype(np.float32)
    np.testing.assert_allclose(jax.jit(fwht)(x), x @ hadamard(d), rtol=1e-5, atol=1e-5)
    # d/dx Σ w ⊙ (x H) = w Hᵀ
    np.testing.assert_allclose(jax.grad(lambda x: jnp.sum(w * fwht(x)))(x), w @ hadamard(d).T, rtol=1e-5, atol=1e-5)


def test_fwht_is_log_d_butterflies_not_a_matrix_product():
    d = 256
    (call,) = jax.make_jaxpr(fwht)(jnp.zeros((2, d))).jaxpr.eqns  # the jitted function
    eqns = call.params["jaxpr"].jaxpr.eqns
    primitives = [e.primitive.name for e in eqns]
    assert "dot_general" not in primitives
    assert primitives.count("add") == primitives.count("sub") == 8  # log2(256), d additions each


@pytest.mark.parametrize("d", [0, 3, 6, 12, 1000])
def test_fwht_refuses_lengths_that_are_not_powers_of_two(d):
    with pytest.raises(ValueError, match="power-of-2 length along the last axis, got"):
        fwht(jnp.zeros((2, d)))


def _dense_matrix(params, seed, d_in, features):
    """The (features, d_in) matrix of the layer, from its diagonals, in float64 numpy."""
    d = 1 << (d_in - 1).bit_length()
    blocks = len(params["B"]) // d
    h = hadamard(d) / np.sqrt(d)
    perms = fastfood_permutations(seed, blocks, d)
    rows = []
    for j in range(blocks):
        b, g, s = (np.asarray(params[k], np.float64)[j * d:(j + 1) * d] for k in "BGS")
        pi = np.eye(d)[perms[j]]  # (Π v)_i = v[perm[i]]
        rows.append(np.diag(s) @ h @ np.diag(g) @ pi @ h @ np.diag(b))
    return np.concatenate(rows)[:features, :d_in]


def _random_params(d, blocks, features, seed=0):
    """Diagonals and bias of any values (the matrix identity holds for all), drawn in numpy: no init to compile."""
    rng = np.random.default_rng(seed)
    n = blocks * d
    return {"B": rng.choice([-1.0, 1.0], n).astype(np.float32), "G": rng.normal(size=n).astype(np.float32),
            "S": rng.uniform(0.5, 1.5, n).astype(np.float32), "bias": rng.normal(size=features).astype(np.float32)}


@pytest.mark.parametrize("d_in, features, d, seed", [(8, 5, 8, 0), (6, 10, 8, 3), (5, 24, 8, 1), (1, 3, 1, 0),
                                                     (33, 64, 64, 7)])
def test_layer_is_the_explicit_matrix_product(d_in, features, d, seed):
    layer = AdaptiveFastfood(features, seed=seed)
    x = np.random.default_rng(0).normal(size=(2, 3, d_in)).astype(np.float32)
    params = _random_params(d, -(-features // d), features, seed)
    y = jax.jit(layer.apply)({"params": params}, x)
    expected = x.astype(np.float64) @ _dense_matrix(params, seed, d_in, features).T + params["bias"]
    assert y.shape == (2, 3, features)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("d_in, features, d, blocks", [(5, 3, 8, 1), (800, 1024, 1024, 1), (800, 2048, 1024, 2),
                                                       (1024, 1000, 1024, 1), (9216, 16384, 16384, 1)])
def test_parameters_are_3d_per_block_plus_the_bias(d_in, features, d, blocks):
    variables = jax.eval_shape(AdaptiveFastfood(features).init, jax.random.key(0), jnp.zeros((1, d_in)))
    assert set(variables) == {"params"}  # Π is no variable
    shapes = {k: v.shape for k, v in variables["params"].items()}
    assert shapes == {"B": (blocks * d,), "G": (blocks * d,), "S": (blocks * d,), "bias": (features,)}
    assert sum(np.prod(s) for s in shapes.values()) == 3 * d * blocks + features


def test_initial_matrix_has_the_row_norms_of_a_gaussian_matrix_with_variance_1_over_d():
    d = 256
    params = jax.jit(AdaptiveFastfood(d).init)(jax.random.key(0), jnp.zeros((1, d)))["params"]
    assert set(np.unique(params["B"])) == {-1.0, 1.0}
    matrix = _dense_matrix(params, 0, d, d)
    # Rows of an N(0, 1/d) matrix have squared norms χ²_d/d: mean 1, standard deviation of the mean √2/d.
    assert np.mean(np.sum(matrix**2, axis=1)) == pytest.approx(1.0, abs=0.03)
    assert np.std(np.sum(matrix**2, axis=1)) == pytest.approx(np.sqrt(2 / d), rel=0.15)


def test_gradients_reach_every_diagonal_and_only_the_kept_rows_of_s():
    features, d_in = 12, 8  # two blocks of 8, the last 4 rows dropped
    layer = AdaptiveFastfood(features)
    x = np.random.default_rng(0).normal(size=(4, d_in)).astype(np.float32)
    params = _random_params(8, 2, features)
    grads = jax.jit(jax.grad(lambda p: jnp.sum(layer.apply({"params": p}, x) ** 2)))(params)
    assert np.all(grads["B"] != 0) and np.all(grads["G"] != 0)
    assert np.all(grads["S"][:features] != 0) and np.all(grads["S"][features:] == 0)


def test_permutations_are_fixed_distinct_permutations():
    perms = fastfood_permutations(0, 3, 64)
    assert all(sorted(p) == list(range(64)) for p in perms)
    assert not np.array_equal(perms[0], perms[1])
    np.testing.assert_array_equal(perms, fastfood_permutations(0, 3, 64))
    assert not np.array_equal(perms, fastfood_permutations(1, 3, 64))


def test_the_seed_changes_the_function_and_nothing_else():
    x = np.random.default_rng(0).normal(size=(2, 16)).astype(np.float32)
    params = {"params": _random_params(16, 1, 16)}
    y0, again, y1 = (jax.jit(AdaptiveFastfood(16, seed=seed).apply)(params, x) for seed in (0, 0, 1))
    np.testing.assert_array_equal(y0, again)
    assert not np.allclose(y0, y1)


def test_features_must_be_positive():
    with pytest.raises(ValueError, match="features must be at least 1"):
        AdaptiveFastfood(0).init(jax.random.key(0), jnp.zeros((1, 4)))
