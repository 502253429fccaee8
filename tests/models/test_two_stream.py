"""Two-stream ConvNets: the hand count of Fig. 1's streams, CNN-M's map sizes, each stream reading only its
channels, the fusion against numpy, the temporal stream without conv2's LRN, stack_flow by hand, and a step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import softmax

import cnn.models
from cnn.models.two_stream import stack_flow
from zoo_testing import (FAST_COMPILE, abstract, abstract_grads, conv, count,
                         dense, random_input, random_variables, real_step)

SMALL = 64  # conv1 29, pool1 14, conv2 6, pool2 3, pool5 1: every layer runs, full6 reads 512 values




def stream(channels, classes, pooled=6 * 6 * 512):
    """Fig. 1's stream (CNN-M-2048) on `channels` inputs, layer by layer."""
    return (conv(7, channels, 96) + conv(5, 96, 256) + conv(3, 256, 512) + 2 * conv(3, 512, 512)
            + dense(pooled, 4096) + dense(4096, 2048) + dense(2048, classes))


def _abstract(size, batch=1, num_classes=101, flow_frames=10):
    return abstract("two_stream", size, batch, num_classes, channels=3 + 2 * flow_frames, flow_frames=flow_frames)


def test_parameter_count_is_the_hand_count_of_two_cnn_m_2048_streams():
    _, variables, _ = _abstract(224)
    assert set(variables) == {"params"}
    assert count({"params": variables["params"]["spatial"]}) == stream(3, 101) == 90_627_813
    assert count({"params": variables["params"]["temporal"]}) == stream(20, 101) == 90_707_781
    assert count(variables) == 181_335_594


def test_flow_frames_sets_the_temporal_input():
    _, variables, _ = _abstract(224, num_classes=51, flow_frames=5)
    assert count(variables) == stream(3, 51) + stream(10, 51)
    model = cnn.models.create("two_stream", num_classes=101)
    with pytest.raises(ValueError, match="3 RGB \\+ 20 flow channels = 23, got input"):
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 224, 224, 22)))


def test_maps_are_cnn_m_sizes_and_only_the_spatial_stream_normalises_conv2():
    model, variables, x = _abstract(224)
    logits, taps = jax.eval_shape(model.apply, variables, x)
    expected = {"conv1": (109, 109, 96), "norm1": (109, 109, 96), "pool1": (54, 54, 96), "conv2": (26, 26, 256),
                "pool2": (13, 13, 256), "conv3": (13, 13, 512), "conv4": (13, 13, 512), "conv5": (13, 13, 512),
                "pool5": (6, 6, 512), "full6": (4096,), "full7": (2048,), "features": (2048,)}
    for name in ("spatial", "temporal"):
        shapes = {k[len(name) + 1:]: v.shape[1:] for k, v in taps.items() if k.startswith(name + "_")}
        assert shapes == {**expected, "logits": (101,), **({"norm2": (26, 26, 256)} if name == "spatial" else {})}
    assert logits.shape == (1, 101)


def test_gradients_have_the_shapes_of_the_parameters_at_224():
    model, variables, x = _abstract(224, batch=2)
    grads, (logits, _) = abstract_grads(model, variables, jnp.zeros(x.shape))
    assert jax.tree.map(lambda g: g.shape, grads) == jax.tree.map(lambda v: v.shape, variables["params"])
    assert logits.shape == (2, 101)


@pytest.fixture(scope="module")
def small():
    """At SMALL px, in eval mode: logits, taps, and d(Σ stream logits)/dx for each stream."""
    model, shapes, x = _abstract(SMALL, batch=2)
    variables = random_variables(shapes)
    x = random_input(x.shape)

    def sums(x):
        logits, taps = model.apply(variables, x)
        return jnp.stack([taps["spatial_logits"].sum(), taps["temporal_logits"].sum()]), (logits, taps)

    grads, (logits, taps) = jax.jit(jax.jacrev(sums, has_aux=True), compiler_options=FAST_COMPILE)(x)
    return model, variables, x, logits, taps, grads


def test_each_stream_sees_only_its_channels(small):
    *_, grads = small
    spatial, temporal = np.asarray(grads)
    assert np.all(spatial[..., 3:] == 0) and np.all(temporal[..., :3] == 0)
    assert np.all(np.abs(spatial[..., :3]).sum(axis=(1, 2)) > 0)
    assert np.all(np.abs(temporal[..., 3:]).sum(axis=(1, 2)) > 0)


def test_fusion_is_the_log_of_the_averaged_softmax_scores(small):
    _, _, _, logits, taps, _ = small
    s, t = (np.asarray(taps[k], np.float64) for k in ("spatial_logits", "temporal_logits"))
    expected = np.log((softmax(s, axis=-1) + softmax(t, axis=-1)) / 2)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(s, t)


def _lrn(a, k=2.0, n=5, alpha=1e-4, beta=0.75):
    """Krizhevsky et al.'s LRN, written out over the channel window."""
    c = a.shape[-1]
    energy = np.stack([np.sum(a[..., max(0, i - n // 2):min(c, i + n // 2 + 1)] ** 2, axis=-1) for i in range(c)], -1)
    return a / (k + alpha * energy) ** beta


def _max_pool_3x3_2_ceil(a):
    size = a.shape[1]
    out = -(-(size - 3) // 2) + 1
    return np.stack([np.stack([a[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(1, 2)) for j in range(out)], 1)
                     for i in range(out)], 1)


def test_temporal_stream_pools_conv2_without_lrn(small):
    _, _, _, _, taps, _ = small
    spatial_conv2, temporal_conv2 = (np.asarray(taps[f"{k}_conv2"], np.float64) for k in ("spatial", "temporal"))
    np.testing.assert_allclose(taps["temporal_pool2"], _max_pool_3x3_2_ceil(temporal_conv2), rtol=1e-6)
    np.testing.assert_allclose(taps["spatial_norm2"], _lrn(spatial_conv2), rtol=1e-5)
    np.testing.assert_allclose(taps["spatial_pool2"], _max_pool_3x3_2_ceil(_lrn(spatial_conv2)), rtol=1e-5)
    assert not np.allclose(_lrn(temporal_conv2), temporal_conv2, rtol=1e-3)  # LRN would have changed it


def test_a_real_training_step_reaches_both_streams(small):
    model, variables, x, *_ = small
    loss, taps, batch_stats, grads = real_step(model, variables, x)
    assert np.isfinite(float(loss)) and batch_stats == {}
    for name in ("spatial", "temporal"):
        for layer in ("conv1", "conv5", "full6", "full8"):
            assert np.any(np.asarray(grads[name][layer]["kernel"]) != 0), (name, layer)
    assert taps["spatial_full7"].shape == (2, 2048)


def test_stack_flow_interleaves_x_and_y_after_subtracting_each_fields_mean():
    # L = 2 frames of a 1×2 image; d[k][pixel] = (d^x, d^y).
    flows = np.array([[[[1.0, 2.0], [3.0, 6.0]]], [[[0.0, 0.0], [0.0, 4.0]]]])  # (L, H, W, 2) = (2, 1, 2, 2)
    # Frame 0's mean vector is (2, 4), frame 1's (0, 2); channels are x0, y0, x1, y1.
    np.testing.assert_array_equal(stack_flow(flows), [[[-1.0, -2.0, 0.0, -2.0], [1.0, 2.0, 0.0, 2.0]]])
    raw = [[[1.0, 2.0, 0.0, 0.0], [3.0, 6.0, 0.0, 4.0]]]
    np.testing.assert_array_equal(stack_flow(flows, subtract_mean=False), raw)


def test_stack_flow_fills_the_temporal_channels_for_a_batch():
    flows = np.random.default_rng(0).normal(size=(3, 10, 4, 5, 2))
    stacked = np.asarray(stack_flow(flows))
    assert stacked.shape == (3, 4, 5, 20)
    for k in range(10):
        for component in (0, 1):  # x, then y
            field = flows[:, k, ..., component]
            np.testing.assert_allclose(stacked[..., 2 * k + component], field - field.mean((1, 2), keepdims=True),
                                       rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="flow fields"):
        stack_flow(np.zeros((10, 4, 5, 3)))


def test_registered_for_ucf101():
    spec = cnn.models.spec("two_stream")
    assert spec.input_shape == (224, 224, 23) and spec.num_classes == 101
