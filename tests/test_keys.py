"""FLAT_THREEFRY keys draw exactly the numbers of JAX's own threefry keys (cnn/keys.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn import keys
from cnn.train.state import create_train_state
from cnn.models import create

SHAPES = [(), (7,), (3, 5), (3, 3, 8, 16), (2, 4, 5, 3, 2), (0, 4)]
DRAWS = {
    "bits": lambda k, s: jax.random.bits(k, s),
    "uniform": lambda k, s: jax.random.uniform(k, s),
    "normal": lambda k, s: jax.random.normal(k, s),
    "truncated_normal": lambda k, s: jax.random.truncated_normal(k, -2.0, 2.0, s),
    "bernoulli": lambda k, s: jax.random.bernoulli(k, 0.3, s),
    "randint": lambda k, s: jax.random.randint(k, s, 0, 1000),
    "permutation": lambda k, s: jax.random.permutation(k, max(1, int(np.prod(s)))),
}


@pytest.fixture(params=[True, False], ids=["partitionable", "classic"])
def threefry_mode(request):
    previous = jax.config.jax_threefry_partitionable
    jax.config.update("jax_threefry_partitionable", request.param)
    yield
    jax.config.update("jax_threefry_partitionable", previous)


@pytest.mark.parametrize("draw", DRAWS)
def test_flat_keys_draw_the_numbers_of_threefry_keys(draw, threefry_mode):
    fn = DRAWS[draw]

    @jax.jit  # one program per draw: compiling each shape's draw eagerly took most of this file's minute
    def both(seed):
        # Derived keys too: split and fold_in keep the implementation; flat converts a traced key.
        ref = jax.random.fold_in(jax.random.split(jax.random.key(seed))[1], 5)
        ours = jax.random.fold_in(jax.random.split(keys.key(seed))[1], 5)
        return [(fn(ours, shape), fn(keys.flat(ref), shape), fn(ref, shape)) for shape in SHAPES]

    for shape, (ours, converted, ref) in zip(SHAPES, both(11)):
        np.testing.assert_array_equal(ours, ref, err_msg=f"{draw} {shape}")
        np.testing.assert_array_equal(converted, ref, err_msg=f"{draw} {shape}")
    # And outside jit, where each draw is its own program.
    np.testing.assert_array_equal(fn(keys.key(3), SHAPES[3]), fn(jax.random.key(3), SHAPES[3]))


def test_flat_takes_raw_and_batched_keys_and_leaves_other_implementations_alone():
    raw = jax.random.PRNGKey(4)
    np.testing.assert_array_equal(jax.random.normal(keys.flat(raw), (2, 3)), jax.random.normal(raw, (2, 3)))
    batch = jax.random.split(jax.random.key(4), 3)
    flat = keys.flat(batch)
    assert flat.shape == (3,) and jax.random.key_impl(flat) == keys.FLAT_THREEFRY
    np.testing.assert_array_equal(jax.vmap(lambda k: jax.random.normal(k, (2, 2)))(flat),
                                  jax.vmap(lambda k: jax.random.normal(k, (2, 2)))(batch))
    rbg = jax.random.key(4, impl="rbg")
    assert keys.flat(rbg) is rbg
    assert keys.flat(flat) is flat


def test_a_model_initialised_through_cnn_has_flax_s_own_initial_weights():
    """Runs recorded before FLAT_THREEFRY keys start from the same weights as runs after."""
    import optax

    model = create("resnet20_cifar", num_classes=10)
    x = jnp.zeros((1, 8, 8, 3))
    expected = jax.jit(lambda k: model.init(k, x, train=False))(jax.random.key(0))
    state = create_train_state(model, optax.sgd(0.1), jax.random.key(0), (8, 8, 3))
    for ours, theirs in zip(jax.tree.leaves(state.params), jax.tree.leaves(expected["params"]), strict=True):
        np.testing.assert_array_equal(ours, theirs)
