"""import_torchvision: layouts, the flatten permutation and the pairing order against numpy NCHW references
(always), and every torchvision classification model of the zoo against torchvision itself (where torch is
installed)."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

import cnn.models
from cnn.models.alexnet import Stage
from cnn.transfer.torchvision import import_torchvision
from torch_testing import FAST_COMPILE, assert_same_logits, torch_reference

# ---- numpy references in torch's layout: NCHW maps, (O, I/g, kh, kw) kernels, (out, in) linear weights ----


def conv2d(x, weight, bias=None, stride=1, padding=0, groups=1):
    n, c, h, w = x.shape
    out, per_group, kh, kw = weight.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    xg = x.reshape(n, groups, per_group, *x.shape[2:])
    wg = weight.reshape(groups, out // groups, per_group, kh, kw)
    y = np.zeros((n, groups, out // groups, ho, wo))
    for i in range(kh):
        for j in range(kw):
            window = xg[..., i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            y += np.einsum("ngchw,goc->ngohw", window, wg[..., i, j])
    y = y.reshape(n, out, ho, wo)
    return y if bias is None else y + bias[:, None, None]


def batch_norm(x, sd, prefix, eps=1e-5):
    scale = sd[f"{prefix}.weight"] / np.sqrt(sd[f"{prefix}.running_var"] + eps)
    shift = sd[f"{prefix}.bias"] - sd[f"{prefix}.running_mean"] * scale
    return x * scale[:, None, None] + shift[:, None, None]


def max_pool(x, k, stride, padding=0):
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=-np.inf)
    ho, wo = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
    windows = [x[..., i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
               for i in range(k) for j in range(k)]
    return np.max(windows, axis=0)


def adaptive_avg_pool(x, size):
    """PyTorch's bins: output i averages [⌊i·n/size⌋, ⌈(i + 1)·n/size⌉)."""
    def bins(n):
        return [(i * n // size, math.ceil((i + 1) * n / size)) for i in range(size)]
    return np.stack([np.stack([x[..., a:b, c:d].mean(axis=(-2, -1)) for c, d in bins(x.shape[3])], -1)
                     for a, b in bins(x.shape[2])], -2)


def linear(x, sd, prefix):
    return x @ sd[f"{prefix}.weight"].T + sd[f"{prefix}.bias"]


def relu(x):
    return np.maximum(x, 0)


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    """A state dict in torch's key order and layouts: weights He-uniform, BN γ and variances U(0.5, 1.5)."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in shapes.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf == "num_batches_tracked":
            state[key] = np.array(7)
        elif leaf == "running_var" or (leaf == "weight" and f"{prefix}.running_var" in shapes):
            state[key] = rng.uniform(0.5, 1.5, shape)
        elif leaf == "weight":
            bound = math.sqrt(6 / math.prod(shape[1:]))
            state[key] = rng.uniform(-bound, bound, shape)
        else:
            state[key] = rng.normal(0, 0.2, shape)
    return {k: v.astype(np.float32) for k, v in state.items()}


def bn_shapes(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{leaf}": (channels,) for leaf in ("weight", "bias", "running_mean", "running_var")} | {
        f"{prefix}.num_batches_tracked": ()}


def ours(name: str, state, x_nchw, num_classes: int, **overrides):
    """Our logits after the import, which takes num_classes from the state dict's last layer."""
    variables = import_torchvision(state, name, **overrides)
    model = cnn.models.create(name, num_classes=num_classes, **overrides)
    logits, _ = jax.jit(lambda v, x: model.apply(v, x, train=False), compiler_options=FAST_COMPILE)(
        variables, x_nchw.transpose(0, 2, 3, 1))
    return np.asarray(logits)


def images(shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- numpy-only proofs (run in CI) ----

TINY_VGG = {"kernels": ((3,), (3,)), "widths": (4, 6), "pool_size": 2, "hidden": 5}


@pytest.fixture(scope="module")
def vgg_state():
    """torchvision's VGG layout (features.i / classifier.i) for vgg11_bn's network narrowed to 4 and 6
    channels, pooled to 2×2 (so classifier.0 reads 6·2·2 = 24 channel-major values) and 5 hidden units."""
    shapes = {"features.0.weight": (4, 3, 3, 3), "features.0.bias": (4,), **bn_shapes("features.1", 4),
              "features.4.weight": (6, 4, 3, 3), "features.4.bias": (6,), **bn_shapes("features.5", 6),
              "classifier.0.weight": (5, 24), "classifier.0.bias": (5,), "classifier.3.weight": (5, 5),
              "classifier.3.bias": (5,), "classifier.6.weight": (3, 5), "classifier.6.bias": (3,)}
    return random_state(shapes)


def test_layouts_batch_norm_and_flatten_order_match_a_numpy_nchw_network(vgg_state):
    sd = vgg_state
    x = images((2, 3, 12, 12))
    y = max_pool(relu(batch_norm(conv2d(x, sd["features.0.weight"], sd["features.0.bias"], padding=1), sd,
                                 "features.1")), 2, 2)
    y = max_pool(relu(batch_norm(conv2d(y, sd["features.4.weight"], sd["features.4.bias"], padding=1), sd,
                                 "features.5")), 2, 2)
    y = adaptive_avg_pool(y, 2).reshape(2, -1)  # NCHW flatten: channel-major
    y = linear(relu(linear(relu(linear(y, sd, "classifier.0")), sd, "classifier.3")), sd, "classifier.6")
    np.testing.assert_allclose(ours("vgg11_bn", sd, x, 3, **TINY_VGG), y, rtol=1e-5, atol=1e-5 * np.abs(y).max())


def test_grouped_convolution_kernels_convert_per_group():
    stages = (Stage(4, 3, 2, 1, after=("pool",)), Stage(6, 3, padding=1, groups=2))
    sd = random_state({"features.0.weight": (4, 3, 3, 3), "features.0.bias": (4,), "features.3.weight": (6, 2, 3, 3),
                       "features.3.bias": (6,), "classifier.1.weight": (5, 24), "classifier.1.bias": (5,),
                       "classifier.4.weight": (5, 5), "classifier.4.bias": (5,), "classifier.6.weight": (3, 5),
                       "classifier.6.bias": (3,)}, seed=2)
    x = images((2, 3, 13, 13))
    y = max_pool(relu(conv2d(x, sd["features.0.weight"], sd["features.0.bias"], stride=2, padding=1)), 3, 2)
    y = relu(conv2d(y, sd["features.3.weight"], sd["features.3.bias"], padding=1, groups=2))
    y = adaptive_avg_pool(y, 2).reshape(2, -1)
    y = linear(relu(linear(relu(linear(y, sd, "classifier.1")), sd, "classifier.4")), sd, "classifier.6")
    got = ours("alexnet", sd, x, 3, stages=stages, adaptive_pool=2, hidden=5)
    np.testing.assert_allclose(got, y, rtol=1e-5, atol=1e-5 * np.abs(y).max())


@pytest.mark.parametrize("anonymous", [False, True], ids=["torchvision_keys", "anonymous_keys"])
@pytest.mark.parametrize("base_width", [64, 256])
def test_a_downsample_registered_after_a_same_shaped_conv_pairs_by_data_flow(base_width, anonymous):
    """torchvision's Bottleneck registers conv1 … bn3 and then downsample; ours runs the projection (1×1,
    4 → 16) first. At base width 64 the block is 4 wide, so conv3 is 1×1 4 → 16 too and only the data flow
    (or the names) tells them apart; at 256 it is 16 wide, so conv1 is 1×1 4 → 16 on the same input as the
    projection, and only the next layer (conv2, 3×3) shows which of the two was conv1. Anonymous keys
    ("module7.weight") leave the pairing nothing but the data flow."""
    w = base_width // 16
    shapes = {"conv1.weight": (4, 3, 7, 7), **bn_shapes("bn1", 4), "layer1.0.conv1.weight": (w, 4, 1, 1),
              **bn_shapes("layer1.0.bn1", w), "layer1.0.conv2.weight": (w, w, 3, 3), **bn_shapes("layer1.0.bn2", w),
              "layer1.0.conv3.weight": (16, w, 1, 1), **bn_shapes("layer1.0.bn3", 16),
              "layer1.0.downsample.0.weight": (16, 4, 1, 1), **bn_shapes("layer1.0.downsample.1", 16),
              "fc.weight": (3, 16), "fc.bias": (3,)}
    sd = random_state(shapes, seed=3)
    x = images((2, 3, 17, 17))
    stem = max_pool(relu(batch_norm(conv2d(x, sd["conv1.weight"], stride=2, padding=3), sd, "bn1")), 3, 2, 1)
    y = relu(batch_norm(conv2d(stem, sd["layer1.0.conv1.weight"]), sd, "layer1.0.bn1"))
    y = relu(batch_norm(conv2d(y, sd["layer1.0.conv2.weight"], padding=1), sd, "layer1.0.bn2"))
    y = batch_norm(conv2d(y, sd["layer1.0.conv3.weight"]), sd, "layer1.0.bn3")
    y = relu(y + batch_norm(conv2d(stem, sd["layer1.0.downsample.0.weight"]), sd, "layer1.0.downsample.1"))
    y = linear(y.mean(axis=(2, 3)), sd, "fc")
    if anonymous:
        prefixes = list(dict.fromkeys(key.rpartition(".")[0] for key in sd))
        sd = {f"module{prefixes.index(key.rpartition('.')[0])}.{key.rpartition('.')[2]}": v for key, v in sd.items()}
    got = ours("resnet50", sd, x, 3, stage_sizes=(1,), stage_widths=(4,), stage_strides=(1,), stem_width=4,
               base_width=base_width)
    np.testing.assert_allclose(got, y, rtol=1e-5, atol=1e-5 * np.abs(y).max())


def test_a_wrong_shape_names_both_layers(vgg_state):
    sd = dict(vgg_state)
    sd["features.4.weight"] = np.zeros((6, 4, 5, 5), np.float32)
    with pytest.raises(ValueError, match=r"their conv 'features.4' \{'bias': \(6,\), 'kernel': \(5, 5, 4, 6\)\}"
                                         r".* our next conv conv2_1 \{'bias': \(6,\), 'kernel': \(3, 3, 4, 6\)\}"):
        import_torchvision(sd, "vgg11_bn", **TINY_VGG)


def test_a_missing_layer_is_named(vgg_state):
    sd = {k: v for k, v in vgg_state.items() if not k.startswith("classifier.6")}
    with pytest.raises(ValueError, match=r"our layers with no counterpart in the state dict: dense fc8"):
        import_torchvision(sd, "vgg11_bn", num_classes=3, **TINY_VGG)


def test_an_extra_layer_is_named(vgg_state):
    sd = {**vgg_state, "extra.weight": np.zeros((2, 3), np.float32)}
    with pytest.raises(ValueError, match=r"their dense 'extra' \{'kernel': \(3, 2\)\} has no counterpart"):
        import_torchvision(sd, "vgg11_bn", num_classes=3, **TINY_VGG)


def test_a_module_that_is_no_conv_linear_or_batch_norm_is_refused(vgg_state):
    sd = {**vgg_state, "features.2.weight": np.full((1,), 0.25, np.float32)}  # a PReLU
    with pytest.raises(ValueError, match=r"'features.2' holds \{'weight': \(1,\)\}: not a convolution"):
        import_torchvision(sd, "vgg11_bn", **TINY_VGG)


# ---- every torchvision classification model of the zoo against torchvision (needs torch) ----

_AUX = {"aux_logits": True, "transform_input": False, "init_weights": False}
# With BN γ ~ U(0.5, 1.5) EfficientNet-B3 and deeper amplify float32 rounding past the tolerance (B7's
# logits from torch's own float32 and float64 passes differ by half their size); half that γ keeps them tame.
_TAME = {"gamma": (0.25, 0.75)}
# (torchvision builder = our name, input size, torch_reference keyword arguments)
MODELS = [
    ("alexnet", 64, {}),
    *((f"vgg{d}{bn}", 32, {}) for d in (11, 13, 16, 19) for bn in ("", "_bn")),
    ("googlenet", 64, _AUX),
    ("inception_v3", 75, _AUX),
    *((f"resnet{d}", 64, {}) for d in (18, 34, 50, 101, 152)),
    *((n, 64, {}) for n in ("resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
                            "wide_resnet101_2")),
    *((f"densenet{d}", 64, {}) for d in (121, 161, 169, 201)),
    ("squeezenet1_0", 64, {}),
    ("squeezenet1_1", 64, {}),
    ("mobilenet_v2", 64, {}),
    ("mobilenet_v3_large", 64, {}),
    ("mobilenet_v3_small", 64, {}),
    *((f"efficientnet_b{i}", 64, _TAME) for i in range(8)),
    *((f"shufflenet_v2_{w}", 64, {}) for w in ("x0_5", "x1_0", "x1_5", "x2_0")),
]


@pytest.mark.parametrize(("name", "size", "kwargs"), MODELS, ids=[m[0] for m in MODELS])
def test_torchvision_logits_are_ours_after_import(name, size, kwargs):
    assert_same_logits(torch_reference(name, **kwargs), name, size)
