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

from cnn.layers import correlate, fast_paths, max_pool


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


def _plain_conv(x, kernel, pads, strides=None, groups=1):
    rank = x.ndim - 2
    return lax.conv_general_dilated(x, kernel, strides or (1,) * rank, pads,
                                    dimension_numbers=fast_paths.channels_last(rank), feature_group_count=groups)


@pytest.mark.parametrize("shape, window", [
    ((2, 8, 3), (2,)), ((3, 6, 8, 4), (2, 2)), ((2, 6, 6, 2), (3, 3)), ((2, 6, 4, 3), (3, 2)),
    ((1, 4, 4, 6, 2), (2, 2, 3)),
    ((2, 24, 12, 2), (12, 12)),  # 144 elements per window: the noted index outgrows int8
])
def test_tiled_max_pool_gradient_is_select_and_scatters_even_with_ties(shape, window):
    rng = np.random.default_rng(0)
    # Few distinct values and ReLU zeros: most windows hold tied maxima, where the choice of the one
    # that gets the gradient shows.
    x = jnp.asarray(np.maximum(rng.integers(-2, 3, shape), 0).astype(np.float32))
    g = jnp.asarray(rng.normal(size=_plain_max_pool(x, window).shape).astype(np.float32))
    y, vjp = jax.vjp(lambda a: fast_paths.tiled_max_pool(a, window), x)
    y_ref, vjp_ref = jax.vjp(lambda a: _plain_max_pool(a, window), x)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(vjp(g)[0], vjp_ref(g)[0])
    assert float(jnp.sum(vjp(g)[0] != 0)) == g.size  # exactly one element per window carries its cotangent


def test_materialize_returns_its_input_and_keeps_it_out_of_its_consumers_fusions():
    y = jnp.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(fast_paths.materialize(y, jnp.ones(2)), y)
    np.testing.assert_array_equal(fast_paths.materialize(y, jnp.full(2, jnp.nan)), y)  # the other branch
    # XLA may not fold the conditional away: its result is the buffer the consumers read.
    compiled = jax.jit(lambda a, w: jnp.sin(fast_paths.materialize(a * w[0], w)) + a).lower(y, jnp.ones(2)).compile()
    assert "conditional(" in compiled.as_text()
    np.testing.assert_array_equal(jax.grad(lambda a: jnp.sum(fast_paths.materialize(a) ** 2))(y), 2 * y)
    with fast_paths.plain():  # the plain primitives only: nothing for the tracers to step over
        assert fast_paths.materialize(y) is y


def _loss(conv, pads):
    """sum(sin(conv)): a cotangent that varies from element to element."""
    return lambda x, w: jnp.sum(jnp.sin(conv(x, w, pads)))


def _check_against_plain(ours, x_shape, k, strides, pads, dtype, seed, groups=1, features=5):
    """`ours(x, w, pads)`, its input gradient and its kernel gradient equal the plain convolution's."""
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=x_shape).astype(dtype))
    w = jnp.asarray(rng.normal(size=(*k, x_shape[-1] // groups, features)).astype(dtype))
    plain = lambda a, b, pads: _plain_conv(a, b, pads, strides, groups)  # noqa: E731
    _close(ours(x, w, pads), plain(x, w, pads), TOLERANCE[dtype])
    for mine, theirs in zip(jax.grad(_loss(ours, pads), (0, 1))(x, w), jax.grad(_loss(plain, pads), (0, 1))(x, w)):
        _close(mine, theirs, TOLERANCE[dtype])
    return x, w


@pytest.mark.parametrize("x_shape, k, pads", [
    ((2, 12, 12, 1), (5, 5), ((2, 2), (2, 2))), ((3, 9, 7, 3), (3, 3), ((1, 1), (1, 1))),
    ((2, 8, 8, 2), (3, 2), ((0, 2), (1, 0))), ((2, 6, 6, 3), (1, 1), ((0, 0), (0, 0))),
])
def test_thin_correlate_matches_the_convolution_and_its_gradients(x_shape, k, pads, dtype):
    _check_against_plain(fast_paths.thin_correlate, x_shape, k, (1, 1), pads, dtype, seed=1)


@pytest.mark.parametrize("x_shape, k, strides, pads", [
    ((4, 5, 5, 16), (5, 5), (1, 1), ((0, 0), (0, 0))),  # LeNet's C5: one position
    ((3, 2, 2, 8), (3, 3), (1, 1), ((1, 1), (1, 1))),  # ResNet-18's last stage at 64×64: 2×2
    ((2, 4, 4, 6), (3, 3), (2, 2), ((1, 1), (1, 1))),  # a strided 3×3 onto 2×2
    ((3, 3, 4, 2), (5, 4), (1, 1), ((1, 1), (0, 1))),  # 1×2 positions
    ((2, 7, 3), (8,), (1,), ((1, 0),)),  # 1D
])
def test_matmul_correlate_matches_the_convolution_and_its_gradients(x_shape, k, strides, pads, dtype):
    ours = lambda a, b, pads: fast_paths.matmul_correlate(a, b, strides, pads)  # noqa: E731
    _check_against_plain(ours, x_shape, k, strides, pads, dtype, seed=2)


@pytest.mark.parametrize("x_shape, k, strides, pads", [
    ((5, 9, 9, 4), (3, 3), (1, 1), ((1, 1), (1, 1))),
    ((5, 9, 8, 4), (3, 3), (2, 2), ((1, 0), (0, 1))),
    ((3, 6, 6, 8), (1, 1), (2, 2), ((0, 0), (0, 0))),  # a projection shortcut
    ((4, 10, 6), (3,), (1,), ((2, 2),)),
    ((3, 7, 7, 10), (3, 3), (1, 1), ((1, 1), (1, 1))),  # too many channels for the col2im input gradient
    # narrow enough for the banded input gradient (padded last axis <= BANDED_WIDTH kernel widths)
    ((3, 8, 8, 6), (5, 5), (1, 1), ((0, 0), (1, 2))),  # LeNet's C3, padded on one side more
    ((4, 5, 3), (3,), (1,), ((1, 1),)),
    ((2, 4, 5, 4, 2), (2, 3, 3), (1, 1, 1), ((1, 0), (0, 1), (1, 1))),
])
@pytest.mark.parametrize("chunk_bytes", [1, 10**9], ids=["one_example_chunks", "one_chunk"])
def test_chunked_correlate_matches_the_convolution_and_its_gradients(x_shape, k, strides, pads, chunk_bytes, dtype,
                                                                     monkeypatch):
    monkeypatch.setattr(fast_paths, "CHUNK_BYTES", chunk_bytes)
    ours = lambda a, b, pads: fast_paths.chunked_correlate(a, b, strides, pads)  # noqa: E731
    x, w = _check_against_plain(ours, x_shape, k, strides, pads, dtype, seed=3)
    lowered = jax.jit(jax.grad(_loss(ours, pads), (0, 1))).lower(x, w).as_text()
    chunks = x_shape[0] if chunk_bytes == 1 else 1
    col2im = set(strides) == {1} and x_shape[-1] <= fast_paths.SCATTER_CHANNELS  # the input gradient, no conv
    assert lowered.count("stablehlo.convolution") == 1 + (not col2im) + chunks  # forward, input, kernel gradients


@pytest.mark.parametrize("x_shape, k, strides, pads, multiplier", [
    ((3, 9, 9, 4), (3, 3), (1, 1), ((1, 1), (1, 1)), 1),  # MobileNet's depthwise 3×3
    ((2, 9, 8, 3), (3, 3), (2, 2), ((0, 1), (1, 0)), 1),  # strided, padded on one side only
    ((2, 8, 7, 2), (5, 5), (1, 1), ((2, 2), (2, 2)), 3),  # three output channels per input channel
    ((2, 11, 5), (7,), (2,), ((3, 3),), 1),  # 1D
    ((1, 5, 6, 4, 2), (3, 3, 3), (1, 2, 1), ((1, 1), (1, 1), (0, 2)), 2),  # 3D
    ((2, 11, 9, 3), (7, 7), (2, 2), ((3, 3), (2, 4)), 2),  # NASNet's strided 7×7, the stride not filling the input
    ((2, 12, 10, 3), (5, 5), (3, 3), ((1, 2), (0, 0)), 1),  # the last rows and columns read by no tap
    ((2, 6, 5), (3,), (2,), ((4, 3),), 1),  # padding wider than the kernel
])
def test_depthwise_correlate_matches_the_grouped_convolution_and_its_gradients(x_shape, k, strides, pads, multiplier,
                                                                               dtype):
    ours = lambda a, b, pads: fast_paths.depthwise_correlate(a, b, strides, pads)  # noqa: E731
    channels = x_shape[-1]
    _check_against_plain(ours, x_shape, k, strides, pads, dtype, seed=4, groups=channels,
                         features=channels * multiplier)


def test_depthwise_layers_take_the_fast_path_on_cpu_and_other_grouped_ones_the_primitive():
    x = jnp.ones((2, 8, 8, 4))
    depthwise = lambda a, w: correlate(a, w, padding=1, groups=4)  # noqa: E731
    grouped = lambda a, w: correlate(a, w, groups=2)  # noqa: E731
    for fn, w, primitive in ((depthwise, jnp.ones((3, 3, 1, 8)), False), (grouped, jnp.ones((3, 3, 2, 4)), True)):
        assert ("conv_general_dilated" in _primitives(jax.grad(lambda a, b: fn(a, b).sum(), (0, 1)), x, w)) == primitive
        with fast_paths.plain():
            assert "conv_general_dilated" in _primitives(lambda *a: fn(*a), x, w)


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


def test_the_layers_take_the_fast_paths_on_cpu_and_the_plain_primitives_within_plain():
    x = jnp.ones((2, 28, 28, 1))
    w1, w5 = jnp.ones((5, 5, 1, 6)), jnp.ones((5, 5, 6, 4))

    def net(x, w1, w5):
        return correlate(max_pool(correlate(x, w1, padding=2), 2)[:, :5, :5], w5).sum()

    assert "select_and_scatter_add" in _primitives(jax.grad(lambda a: _plain_max_pool(a, (2, 2)).sum()), x)
    fast = _primitives(jax.grad(net, (0, 1, 2)), x, w1, w5)
    assert "select_and_scatter_add" not in fast and "dot_general" in fast
    assert "conv_general_dilated" in fast  # the thin convolution's gradients are the primitive's own
    assert {"custom_vjp_call", "dot_general"} <= _primitives(net, x, w1, w5)  # the thin and matmul paths
    with fast_paths.plain():  # what the receptive-field tracer sees (a new function: JAX caches traces)
        plain = _primitives(lambda *a: net(*a), x, w1, w5)
        assert not fast_paths.enabled()
    assert {"conv_general_dilated", "reduce_window_max"} <= plain and "dot_general" not in plain
    assert fast_paths.enabled()


def test_only_tiling_pools_take_the_tiled_path_and_integer_pools_the_plain_one():
    assert not fast_paths.tiles((1, 6, 6, 1), (3, 3), (2, 2), [(0, 0), (0, 0)])
    assert not fast_paths.tiles((1, 7, 6, 1), (2, 2), (2, 2), [(0, 0), (0, 0)])
    assert not fast_paths.tiles((1, 6, 6, 1), (2, 2), (2, 2), [(1, 1), (0, 0)])
    y = max_pool(jnp.arange(16, dtype=jnp.int32).reshape(1, 4, 4, 1), 2)
    np.testing.assert_array_equal(y[0, :, :, 0], [[5, 7], [13, 15]])
    grad = jax.grad(lambda a: max_pool(a, 3, 2, padding=1).sum())
    assert "select_and_scatter_add" not in _primitives(grad, jnp.ones((1, 8, 8, 1)))
    with fast_paths.plain():
        assert "select_and_scatter_add" in _primitives(lambda a: grad(a), jnp.ones((1, 8, 8, 1)))


@pytest.mark.parametrize("shape, window, strides, pads", [
    ((2, 9, 9, 3), (3, 3), (2, 2), ((1, 1), (1, 1))),  # ResNet's stem pool
    ((2, 8, 7, 2), (3, 3), (2, 2), ((0, 1), (1, 0))),  # padded on one side only
    ((2, 7, 7, 2), (3, 3), (1, 1), ((1, 1), (1, 1))),  # GoogLeNet's pool branch: stride 1, every pixel in 9 windows
    ((2, 10, 3), (3,), (1,), ((1, 1),)),
    ((1, 5, 6, 4, 2), (2, 3, 2), (1, 2, 1), ((0, 1), (1, 1), (0, 0))),
    ((2, 10, 10, 2), (2, 2), (3, 3), ((0, 0), (0, 0))),  # stride beyond the window: pixels in no window
    ((1, 131, 1), (128,), (1,), ((0, 0),)),  # 128 elements per window: an int32 index
])
def test_windowed_max_pool_gradient_is_select_and_scatters_even_with_ties(shape, window, strides, pads):
    rng = np.random.default_rng(1)
    x = jnp.asarray(np.maximum(rng.integers(-2, 3, shape), 0).astype(np.float32))
    plain = lambda a: lax.reduce_window(a, -jnp.inf, lax.max, (1, *window, 1), (1, *strides, 1),  # noqa: E731
                                        ((0, 0), *pads, (0, 0)))
    y, vjp = jax.vjp(lambda a: fast_paths.windowed_max_pool(a, window, strides, pads), x)
    y_ref, vjp_ref = jax.vjp(plain, x)
    # Integer cotangents: where windows overlap, the sums each pixel receives are exact in any order.
    g = jnp.asarray(rng.integers(-50, 50, y.shape).astype(np.float32))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(vjp(g)[0], vjp_ref(g)[0])
