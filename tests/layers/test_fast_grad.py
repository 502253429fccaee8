"""The fast paths compute what the plain primitives compute: values and gradients equal jax.grad's.

In float64 the reformulations agree with the plain primitives to 1e-10 (the same formula, summed in
another order); in float32 to 1e-4 of the largest value: float32 rounding over sums of hundreds of
terms, which differs between any two summation orders (XLA's own convolution algorithms included).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnn.layers import correlate, fast_grad, max_pool


TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    with jax.enable_x64(request.param == np.float64):
        yield request.param


def _close(ours, reference, tol):
    ours, reference = np.asarray(ours), np.asarray(reference)
    scale = max(float(np.abs(reference).max()), 1e-30)
    assert ours.shape == reference.shape
    assert float(np.abs(ours - reference).max()) <= tol * scale


def _plain_max_pool(x, window):
    w = (1, *window, 1)
    return lax.reduce_window(x, -jnp.inf, lax.max, w, w, "VALID")


def _plain_conv(x, kernel, pads):
    rank = x.ndim - 2
    return lax.conv_general_dilated(x, kernel, (1,) * rank, pads,
                                    dimension_numbers=fast_grad.channels_last(rank))


@pytest.mark.parametrize("shape, window", [
    ((2, 8, 3), (2,)), ((3, 6, 8, 4), (2, 2)), ((2, 6, 6, 2), (3, 3)), ((2, 6, 4, 3), (3, 2)),
    ((1, 4, 4, 6, 2), (2, 2, 3)),
])
def test_tiled_max_pool_gradient_is_select_and_scatters_even_with_ties(shape, window):
    rng = np.random.default_rng(0)
    # Few distinct values and ReLU zeros: most windows hold tied maxima, where the choice of the one
    # that gets the gradient shows.
    x = jnp.asarray(np.maximum(rng.integers(-2, 3, shape), 0).astype(np.float32))
    g = jnp.asarray(rng.normal(size=_plain_max_pool(x, window).shape).astype(np.float32))
    y, vjp = jax.vjp(lambda a: fast_grad.tiled_max_pool(a, window), x)
    y_ref, vjp_ref = jax.vjp(lambda a: _plain_max_pool(a, window), x)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(vjp(g)[0], vjp_ref(g)[0])
    assert float(jnp.sum(vjp(g)[0] != 0)) == g.size  # exactly one element per window carries its cotangent


@pytest.mark.parametrize("x_shape, k, pads", [
    ((2, 12, 12, 1), (5, 5), ((2, 2), (2, 2))), ((3, 9, 7, 3), (3, 3), ((1, 1), (1, 1))),
    ((2, 8, 8, 2), (3, 2), ((0, 2), (1, 0))), ((2, 6, 6, 3), (1, 1), ((0, 0), (0, 0))),
])
def test_thin_correlate_matches_the_convolution_and_its_gradients(x_shape, k, pads, dtype):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=x_shape).astype(dtype))
    w = jnp.asarray(rng.normal(size=(*k, x_shape[-1], 5)).astype(dtype))
    assert fast_grad.thin(x.shape, w.shape)
    _close(fast_grad.thin_correlate(x, w, pads), _plain_conv(x, w, pads), TOLERANCE[dtype])
    loss = lambda f: lambda a, b: jnp.sum(jnp.sin(f(a, b, pads)))  # noqa: E731  a non-trivial cotangent
    for ours, theirs in zip(jax.grad(loss(fast_grad.thin_correlate), (0, 1))(x, w),
                            jax.grad(loss(_plain_conv), (0, 1))(x, w)):
        _close(ours, theirs, TOLERANCE[dtype])


@pytest.mark.parametrize("x_shape, pads", [
    ((4, 5, 5, 16), ((0, 0), (0, 0))), ((3, 3, 4, 2), ((1, 1), (0, 1))), ((2, 7, 3), ((1, 0),)),
])
def test_covering_correlate_matches_the_convolution_and_its_gradients(x_shape, pads, dtype):
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=x_shape).astype(dtype))
    k = tuple(n + lo + hi for n, (lo, hi) in zip(x_shape[1:-1], pads))
    w = jnp.asarray(rng.normal(size=(*k, x_shape[-1], 6)).astype(dtype))
    assert fast_grad.covers(x.shape, w.shape, pads)
    _close(fast_grad.covering_correlate(x, w, pads), _plain_conv(x, w, pads), TOLERANCE[dtype])
    loss = lambda f: lambda a, b: jnp.sum(jnp.sin(f(a, b, pads)))  # noqa: E731
    for ours, theirs in zip(jax.grad(loss(fast_grad.covering_correlate), (0, 1))(x, w),
                            jax.grad(loss(_plain_conv), (0, 1))(x, w)):
        _close(ours, theirs, TOLERANCE[dtype])


def _primitives(fn, *args) -> set[str]:
    found = set()

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            found.add(eqn.primitive.name)
            for value in eqn.params.values():
                inner = getattr(value, "jaxpr", value)
                if hasattr(inner, "eqns"):
                    walk(inner)
    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return found


def test_the_layers_take_the_fast_paths_on_cpu_and_keep_their_forward_primitives():
    x = jnp.ones((2, 28, 28, 1))
    w1, w5 = jnp.ones((5, 5, 1, 6)), jnp.ones((5, 5, 6, 4))

    def net(x, w1, w5):
        return correlate(max_pool(correlate(x, w1, padding=2), 2)[:, :5, :5], w5).sum()

    assert "select_and_scatter_add" in _primitives(jax.grad(lambda a: _plain_max_pool(a, (2, 2)).sum()), x)
    backward = _primitives(jax.grad(net, (0, 1, 2)), x, w1, w5)
    assert "select_and_scatter_add" not in backward
    assert "dot_general" in backward  # the covering convolution's gradients
    forward = _primitives(net, x, w1, w5)  # what inference and the receptive-field tracer see
    assert {"conv_general_dilated", "reduce_window_max"} <= forward and "dot_general" not in forward


def test_integer_and_overlapping_pools_keep_the_plain_path():
    assert not fast_grad.tiles((1, 6, 6, 1), (3, 3), (2, 2), [(0, 0), (0, 0)])
    assert not fast_grad.tiles((1, 7, 6, 1), (2, 2), (2, 2), [(0, 0), (0, 0)])
    assert not fast_grad.tiles((1, 6, 6, 1), (2, 2), (2, 2), [(1, 1), (0, 0)])
    y = max_pool(jnp.arange(16, dtype=jnp.int32).reshape(1, 4, 4, 1), 2)
    np.testing.assert_array_equal(y[0, :, :, 0], [[5, 7], [13, 15]])
