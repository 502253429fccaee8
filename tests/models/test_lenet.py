import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnn.models


def _params(num_classes=10, size=28, **overrides):
    model = cnn.models.create("lenet5", num_classes=num_classes, **overrides)
    variables = model.init(jax.random.key(0), jnp.zeros((1, size, size, 1)))
    return model, variables


def test_parameter_count_matches_the_hand_count():
    # (in·k·k + 1)·out per layer: C1, C3, C5 (convolutions), F6 and the output layer.
    expected = (1 * 25 + 1) * 6 + (6 * 25 + 1) * 16 + (16 * 25 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * 10
    _, variables = _params()
    assert sum(x.size for x in jax.tree.leaves(variables)) == expected == 61_706


def test_apply_returns_logits_and_paper_named_taps():
    model, variables = _params(num_classes=7)
    logits, taps = model.apply(variables, jnp.ones((3, 28, 28, 1)), train=False)
    assert logits.shape == (3, 7)
    shapes = {k: v.shape[1:] for k, v in taps.items()}
    assert shapes == {"c1": (28, 28, 6), "s2": (14, 14, 6), "c3": (10, 10, 16), "s4": (5, 5, 16),
                      "c5": (1, 1, 120), "f6": (84,)}


def test_s2_is_2x2_max_pooling_of_c1():
    model, variables = _params()
    x = jax.random.normal(jax.random.key(1), (2, 28, 28, 1))
    _, taps = model.apply(variables, x)
    c1 = np.asarray(taps["c1"])
    expected = c1.reshape(2, 14, 2, 14, 2, 6).max(axis=(2, 4))
    np.testing.assert_allclose(taps["s2"], expected, rtol=0, atol=0)


def test_paper_sized_32x32_input_without_padding():
    model, variables = _params(size=32, c1_padding=0)
    logits, taps = model.apply(variables, jnp.zeros((1, 32, 32, 1)))
    assert taps["c1"].shape == (1, 28, 28, 6) and logits.shape == (1, 10)


def test_wrong_input_size_explains_the_fix():
    with pytest.raises(ValueError, match="feed 28×28 images with c1_padding=2 or 32×32 images with c1_padding=0"):
        _params(size=32)


def test_registry_lists_and_suggests():
    assert "lenet5" in cnn.models.names()
    with pytest.raises(ValueError, match="unknown model 'lenet_5'. Did you mean 'lenet5'"):
        cnn.models.create("lenet_5", num_classes=10)



def test_activation_by_name_is_the_function_it_names():
    x = jax.random.normal(jax.random.key(1), (2, 28, 28, 1))
    by_name, variables = _params(activation="tanh")
    by_function = cnn.models.create("lenet5", num_classes=10, activation=jnp.tanh)
    logits, taps = by_name.apply(variables, x)
    np.testing.assert_array_equal(logits, by_function.apply(variables, x)[0])
    assert float(jnp.abs(taps["f6"]).max()) < 1.0  # tanh, not the default ReLU
    with pytest.raises(ValueError, match="unknown activation 'tahn'. Did you mean 'tanh'"):
        cnn.models.create("lenet5", num_classes=10, activation="tahn")


def test_dropout_drops_the_dense_layers_inputs_in_training_only():
    x = jax.random.normal(jax.random.key(1), (64, 28, 28, 1))
    model, variables = _params(dropout=0.5)
    eval_logits, _ = model.apply(variables, x, train=False)
    np.testing.assert_array_equal(eval_logits, _params()[0].apply(variables, x, train=False)[0])
    # F6 made to pass its first 84 inputs through (identity kernel, a bias that keeps ReLU open): in training
    # each of its units must then be 0 (dropped) or twice C5's unit (kept, scaled by 1 / (1 - 0.5)).
    params = jax.tree.map(lambda p: p, variables["params"])
    params["f6"] = {"kernel": jnp.eye(120, 84), "bias": jnp.full((84,), 100.0)}
    _, taps = model.apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(2)})
    passed = np.asarray(taps["f6"]) - 100.0
    c5 = np.asarray(taps["c5"]).reshape(64, 120)[:, :84]
    kept = np.isclose(passed, 2 * c5, rtol=1e-5, atol=1e-4)
    dropped = np.isclose(passed, 0.0, atol=1e-4) & ~np.isclose(c5, 0.0, atol=1e-4)
    assert np.all(kept | np.isclose(passed, 0.0, atol=1e-4))
    assert 0.4 < dropped.sum() / (~np.isclose(c5, 0.0, atol=1e-4)).sum() < 0.6

# --- lenet5_1998: the paper's network -------------------------------------------------------------

# Table I of LeCun et al. 1998, drawn as in the paper: row i = S2 map i, column j = C3 map j.
PAPER_TABLE_I = (
    "X   XXX  XXXX XX",
    "XX   XXX  XXXX X",
    "XXX   XXX  X XXX",
    " XXX  XXXX  X XX",
    "  XXX  XXXX XX X",
    "   XXX  XXXX XXX",
)
# Trainable parameters per layer as the paper states them (section II.B).
PAPER_COUNTS = {"c1": 156, "s2": 12, "c3": 1_516, "s4": 32, "c5": 48_120, "f6": 10_164}
A, S = 1.7159, 2 / 3  # f(a) = A tanh(S a), appendix A


def _randomized(variables, seed=1):
    """Every parameter redrawn (biases and S2/S4 coefficients included), so none sits at a neutral value."""
    leaves, tree = jax.tree.flatten(variables)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(tree, [0.3 * jax.random.normal(k, leaf.shape) for k, leaf in zip(keys, leaves)])


@pytest.fixture(scope="module")
def paper():
    """lenet5_1998 for 26 classes with random parameters, one batch through it in training mode, and the
    gradient of the cross-entropy, all from one compiled step."""
    model = cnn.models.create("lenet5_1998", num_classes=26)
    variables = _randomized(jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 28, 28, 1))))
    x = jax.random.normal(jax.random.key(3), (3, 28, 28, 1))

    @jax.jit
    def step(params):
        def loss(p):
            logits, taps = model.apply({"params": p}, x, train=True)
            return -jnp.mean(jax.nn.log_softmax(logits)[:, 3]), (logits, taps)

        return jax.grad(loss, has_aux=True)(params)

    grads, (logits, taps) = step(variables["params"])
    return variables, logits, {k: np.asarray(v, np.float64) for k, v in taps.items()}, grads


def test_1998_trainable_parameters_per_layer_are_the_papers():
    model = cnn.models.create("lenet5_1998", num_classes=10)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    assert set(variables) == {"params"}  # the RBF codes are a constant, not a variable
    counts = {layer: sum(x.size for x in jax.tree.leaves(tree)) for layer, tree in variables["params"].items()}
    assert counts == PAPER_COUNTS
    assert sum(counts.values()) == 60_000


def test_1998_taps_have_the_papers_map_sizes(paper):
    _, logits, taps, _ = paper
    assert logits.shape == (3, 26)
    assert {k: v.shape[1:] for k, v in taps.items()} == {
        "c1": (28, 28, 6), "s2": (14, 14, 6), "c3": (10, 10, 16), "s4": (5, 5, 16), "c5": (1, 1, 120), "f6": (84,)}


def test_1998_c3_connects_exactly_table_i():
    from cnn.models.lenet import C3_TABLE, TableConv

    layer = TableConv(C3_TABLE)
    s2 = jax.random.normal(jax.random.key(2), (1, 14, 14, 6))
    variables = _randomized(jax.eval_shape(layer.init, jax.random.key(0), s2))
    # Which S2 maps each C3 map's centre unit depends on: the Jacobian's nonzero input channels.
    jacobian = jax.jit(jax.jacobian(lambda x: layer.apply(variables, x)[0, 5, 5]))(s2)  # (16, 1, 14, 14, 6)
    seen = np.asarray(jnp.abs(jacobian).sum(axis=(1, 2, 3)) > 0).T  # (6 S2 maps, 16 C3 maps)
    expected = np.array([[c == "X" for c in row] for row in PAPER_TABLE_I])
    np.testing.assert_array_equal(seen, expected)


@pytest.mark.parametrize("layer, below, side, maps", [("s2", "c1", 14, 6), ("s4", "c3", 5, 16)])
def test_1998_subsampling_is_a_trainable_coefficient_times_the_window_sum_plus_bias_squashed(
        paper, layer, below, side, maps):
    variables, _, taps, _ = paper
    p = variables["params"][layer]
    sums = taps[below].reshape(3, side, 2, side, 2, maps).sum(axis=(2, 4))
    expected = A * np.tanh(S * (np.asarray(p["coefficient"]) * sums + np.asarray(p["bias"])))
    np.testing.assert_allclose(taps[layer], expected, rtol=1e-5, atol=1e-6)


def test_1998_f6_squashes_with_the_scaled_tanh(paper):
    variables, _, taps, _ = paper
    p = variables["params"]["f6"]
    a = taps["c5"].reshape(3, 120) @ np.asarray(p["kernel"]) + np.asarray(p["bias"])
    np.testing.assert_allclose(taps["f6"], A * np.tanh(S * a), rtol=1e-5, atol=1e-6)


def test_1998_logits_are_minus_the_rbf_distances_to_equidistant_plus_minus_one_codes(paper):
    from cnn.models.lenet import rbf_codes

    codes = rbf_codes(168)
    assert set(np.unique(codes)) == {-1.0, 1.0}
    np.testing.assert_array_equal(codes[:84] @ codes[:84].T, 84 * np.eye(84))  # Hadamard: any two differ in 42
    np.testing.assert_array_equal(codes[84:], -codes[:84])
    _, logits, taps, _ = paper
    expected = -((taps["f6"][:, None, :] - codes[None, :26, :]) ** 2).sum(-1)
    np.testing.assert_allclose(logits, expected, rtol=1e-5)


def test_1998_refuses_more_classes_than_codes():
    model = cnn.models.create("lenet5_1998", num_classes=169)
    with pytest.raises(ValueError, match="codes for 1 to 168 classes, got 169"):
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 28, 28, 1)))


def test_1998_forward_backward_reaches_every_parameter(paper):
    *_, grads = paper
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert np.all(np.isfinite(g)) and np.any(g != 0), path


def test_1998_paper_sized_32x32_input_without_padding():
    model = cnn.models.create("lenet5_1998", num_classes=10, c1_padding=0)
    x = jnp.zeros((1, 32, 32, 1))
    logits, taps = jax.eval_shape(model.apply, jax.eval_shape(model.init, jax.random.key(0), x), x)
    assert taps["c1"].shape == (1, 28, 28, 6) and taps["c5"].shape == (1, 1, 1, 120) and logits.shape == (1, 10)
