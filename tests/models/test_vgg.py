import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import cnn.models
from zoo_testing import count, random_variables

# torchvision's published parameter counts (1000 classes).
TORCHVISION = {
    "vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848, "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "vgg19": 143_667_240, "vgg19_bn": 143_678_248,
}
# Paper Table 1, written out layer by layer ("conv3-64" is (3, 64)); Table 2's sizes in millions.
_BLOCKS_A = [[(3, 64)], [(3, 128)], [(3, 256)] * 2, [(3, 512)] * 2, [(3, 512)] * 2]
_BLOCKS_B = [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 2, [(3, 512)] * 2, [(3, 512)] * 2]
_BLOCKS_C = [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256), (3, 256), (1, 256)],
             [(3, 512), (3, 512), (1, 512)], [(3, 512), (3, 512), (1, 512)]]
_BLOCKS_D = [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 3, [(3, 512)] * 3, [(3, 512)] * 3]
_BLOCKS_E = [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 4, [(3, 512)] * 4, [(3, 512)] * 4]
PAPER = {
    "vgg11": (_BLOCKS_A, 133), "vgg_a_lrn": (_BLOCKS_A, 133), "vgg13": (_BLOCKS_B, 133),
    "vgg16_c": (_BLOCKS_C, 134), "vgg16": (_BLOCKS_D, 138), "vgg19": (_BLOCKS_E, 144),
}
ALL = sorted(PAPER) + [f"{n}_bn" for n in ("vgg11", "vgg13", "vgg16", "vgg19")]


def _hand_count(blocks, batch_norm=False, classes=1000):
    total, c_in = 0, 3
    for block in blocks:
        for k, c_out in block:
            total += (k * k * c_in + 1) * c_out + (2 * c_out if batch_norm else 0)
            c_in = c_out
    return total + (7 * 7 * 512 + 1) * 4096 + (4096 + 1) * 4096 + (4096 + 1) * classes


def _shapes(name, size=224, batch=1, **overrides):
    model = cnn.models.create(name, num_classes=1000, **overrides)
    x = jnp.zeros((batch, size, size, 3))
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    return model, variables, x


def _random_variables(model, x):
    return random_variables(jax.eval_shape(model.init, jax.random.key(0), x))


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_parameter_count_equals_torchvision(name):
    _, variables, _ = _shapes(name)
    plain = name.removesuffix("_bn")
    assert count(variables) == TORCHVISION[name] == _hand_count(PAPER[plain][0], name.endswith("_bn"))


@pytest.mark.parametrize("name", sorted(PAPER))
def test_parameter_count_equals_the_papers_table_2(name):
    blocks, millions = PAPER[name]
    _, variables, _ = _shapes(name)
    assert count(variables) == _hand_count(blocks)
    assert round(count(variables) / 1e6) == millions


def test_config_c_closes_blocks_3_to_5_with_1x1_convolutions():
    _, variables, _ = _shapes("vgg16_c")
    params = variables["params"]
    assert {b: params[f"conv{b}_3"]["kernel"].shape for b in (3, 4, 5)} == {
        3: (1, 1, 256, 256), 4: (1, 1, 512, 512), 5: (1, 1, 512, 512)}
    assert params["conv3_2"]["kernel"].shape == (3, 3, 256, 256)


def test_bn_variants_keep_the_convolution_bias_and_add_running_statistics():
    _, variables, _ = _shapes("vgg11_bn")
    assert variables["params"]["conv1_1"]["bias"].shape == (64,)
    assert variables["batch_stats"]["bn1_1"]["var"].shape == (64,)
    # 8 convolutions in A, so 8 batch norms: mean and var of every convolution's channels.
    assert len(variables["batch_stats"]) == 8
    assert sum(leaf.size for leaf in jax.tree.leaves(variables["batch_stats"])) == 2 * 2752


@pytest.mark.parametrize("name", ALL)
def test_forward_backward_shapes_at_224(name):
    # Free (abstract) forward and backward at the paper's size; the real runs follow below.
    model, variables, x = _shapes(name, batch=2)

    def loss(params, state):
        (logits, taps), _ = model.apply({**state, "params": params}, x, train=True, mutable=["batch_stats"],
                                        rngs={"dropout": jax.random.key(1)})
        return jnp.mean(logits ** 2), (logits, taps)

    state = {k: v for k, v in variables.items() if k != "params"}
    grads, (logits, taps) = jax.eval_shape(jax.grad(loss, has_aux=True), variables["params"], state)
    assert jax.tree.map(lambda g: g.shape, grads) == jax.tree.map(lambda p: p.shape, variables["params"])
    assert logits.shape == (2, 1000)
    assert {k: v.shape[1:] for k, v in taps.items()} == {
        "stage1": (112, 112, 64), "stage2": (56, 56, 128), "stage3": (28, 28, 256), "stage4": (14, 14, 512),
        "stage5": (7, 7, 512), "fc6": (4096,), "features": (4096,)}


@pytest.mark.parametrize("name", ["vgg_a_lrn", "vgg11_bn"])
def test_real_forward_backward_at_32x32_with_a_narrow_classifier(name):
    # 32×32 leaves a 1×1 map, which the adaptive pool repeats 7×7; hidden=64 keeps fc6 at 25,088·64.
    model = cnn.models.create(name, num_classes=10, hidden=64)
    x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
    labels = jnp.array([3, 7])
    variables = _random_variables(model, x)

    @jax.jit
    def step(variables):
        def loss(params):
            (logits, _), updates = model.apply({**variables, "params": params}, x, train=True,
                                               mutable=["batch_stats"], rngs={"dropout": jax.random.key(2)})
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), updates
        return jax.value_and_grad(loss, has_aux=True)(variables["params"])

    (value, updates), grads = step(variables)
    assert np.isfinite(value)
    norms = {k: float(optax.tree.norm(g)) for k, g in grads.items()}
    assert all(np.isfinite(n) and n > 0 for n in norms.values()), norms
    if name.endswith("_bn"):
        assert not np.allclose(updates["batch_stats"]["bn1_1"]["mean"], 0)


def test_lrn_follows_the_first_convolution_in_config_a_lrn():
    # Reference: conv1_1 by lax, ReLU, the paper's (AlexNet's) LRN in numpy, 2×2 max pool by reshape.
    # Blocks 2-5 and the classifier are narrowed; they do not touch block 1.
    narrow = {"num_classes": 10, "hidden": 8, "widths": (64, 8, 8, 8, 8)}
    model = cnn.models.create("vgg_a_lrn", **narrow)
    x = jax.random.normal(jax.random.key(0), (1, 32, 32, 3))
    variables = _random_variables(model, x)
    _, taps = jax.jit(model.apply)(variables, x)
    conv = variables["params"]["conv1_1"]
    a = np.maximum(np.asarray(jax.lax.conv_general_dilated(
        x, conv["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + conv["bias"]), 0)
    squares = np.pad(a ** 2, ((0, 0), (0, 0), (0, 0), (2, 2)))
    energy = sum(squares[..., j:j + 64] for j in range(5))
    b = a / (2 + 1e-4 * energy) ** 0.75
    expected = b.reshape(1, 16, 2, 16, 2, 64).max(axis=(2, 4))
    np.testing.assert_allclose(taps["stage1"], expected, rtol=1e-5, atol=1e-6)
    plain = cnn.models.create("vgg11", **narrow)
    assert not np.allclose(jax.jit(plain.apply)(variables, x)[1]["stage1"], expected, rtol=1e-3)


def test_activation_replaces_every_relu():
    # Reference: block 1 by lax and numpy tanh, 2×2 max pool by reshape; fc6 from the last map by hand.
    narrow = {"num_classes": 10, "hidden": 8, "kernels": ((3,), (3,)), "widths": (4, 8), "pool_size": 2}
    model = cnn.models.create("vgg11", activation="tanh", **narrow)
    x = jax.random.normal(jax.random.key(0), (1, 8, 8, 3))
    variables = _random_variables(model, x)
    _, taps = jax.jit(model.apply)(variables, x)
    conv = variables["params"]["conv1_1"]
    a = np.tanh(np.asarray(jax.lax.conv_general_dilated(
        x, conv["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + conv["bias"]))
    np.testing.assert_allclose(taps["stage1"], a.reshape(1, 4, 2, 4, 2, 4).max(axis=(2, 4)), rtol=1e-5, atol=1e-6)
    fc6 = variables["params"]["fc6"]
    np.testing.assert_allclose(taps["fc6"], np.tanh(np.asarray(taps["stage2"]).reshape(1, -1) @ fc6["kernel"]
                                                    + fc6["bias"]), rtol=1e-5, atol=1e-6)
    assert (np.asarray(taps["fc6"]) < 0).any()  # no ReLU left after it


def test_too_small_input_explains_the_fix():
    with pytest.raises(ValueError, match=r"need inputs of at least 32×32, got 16×16; upsample"):
        _shapes("vgg16", size=16)


def test_registered_names():
    assert set(ALL) <= set(cnn.models.names())
    assert cnn.models.spec("vgg16").input_shape == (224, 224, 3)
