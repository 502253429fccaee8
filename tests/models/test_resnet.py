"""ResNet family: parameter counts against torchvision and the papers (and a hand count), wiring, and training."""

import functools
import math

import flax.errors
import flax.linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnn.models
from cnn.layers import BatchNorm, Conv, Dropout
from cnn.models.resnet import BasicBlock, Bottleneck

# torchvision's published parameter counts (torchvision.models weights metadata, 1000 classes).
TORCHVISION = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "resnext101_64x4d": 83_455_272,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
}
BLOCKS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3)),
          101: ("bottleneck", (3, 4, 23, 3)), 152: ("bottleneck", (3, 8, 36, 3))}
# He et al. 2016, Table 6 ("# params"); Zagoruyko & Komodakis 2016, the sizes it gives each net.
CIFAR_PAPER = {"resnet20_cifar": (3, 0.27), "resnet32_cifar": (5, 0.46), "resnet44_cifar": (7, 0.66),
               "resnet56_cifar": (9, 0.85), "resnet110_cifar": (18, 1.7)}
WRN_PAPER = {"wrn28_10": (28, 10, 36.5), "wrn16_8": (16, 8, 11.0), "wrn40_4": (40, 4, 8.9)}
# SENet's models (se_*) build on these blocks but are tested in test_senet.py.
FAMILY = sorted(n for n in cnn.models.names()
                if ("resnet" in n or "resnext" in n or n.startswith("wrn")) and not n.startswith("se_"))


def _shapes(name, size=None, **overrides):
    """The model and its variables' shapes (free: nothing is computed)."""
    spec = cnn.models.spec(name)
    model = cnn.models.create(name, num_classes=spec.num_classes, **overrides)
    shape = spec.input_shape if size is None else (size, size, 3)
    return model, jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, *shape)))


@functools.cache
def _default_shapes(name):
    return _shapes(name)


def _key(seed: int) -> jax.Array:
    # XLA compiles threefry slowly, once per parameter shape (9 s of CPU for resnet18's init); the
    # "rbg" generator compiles in a third of that and draws from the same initialisers.
    return jax.random.key(seed, impl="rbg")


def _run(model, x, *args):
    """model.init then model.apply, each compiled once (eager dispatch compiles every op on its own)."""
    variables = jax.jit(lambda key, x: model.init(key, x, *args))(_key(1), x)
    return variables, jax.jit(lambda v, x: model.apply(v, x, *args))(variables, x)


def _count(tree) -> int:
    return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def _imagenet_hand_count(block, sizes, groups=1, base_width=64, preact=False, classes=1000):
    """Σ k²·C_in·C_out/g over the convolutions + 2·C per BN + the FC, from the papers' tables."""
    total = 7 * 7 * 3 * 64 + 2 * 64  # stem conv and BN
    channels = 64
    for stage, (n, planes) in enumerate(zip(sizes, (64, 128, 256, 512))):
        for i in range(n):
            if block == "basic":
                out = planes
                total += 9 * channels * planes + 9 * planes * planes + 2 * planes  # and the BN between them
            else:
                width = int(planes * base_width / 64) * groups
                out = 4 * planes
                total += channels * width + 9 * width * width // groups + width * out + 2 * (2 * width)
            if not preact:
                total += 2 * out  # v1's BN after the last convolution
            elif stage or i:
                total += 2 * channels  # v2's BN before the first; the stem's BN-ReLU serves the first block
            if channels != out:
                total += channels * out + (0 if preact else 2 * out)  # projection (+ BN in v1)
            channels = out
    if preact:
        total += 2 * channels  # the final BN
    return total + (channels + 1) * classes


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_parameter_counts_equal_torchvision(name):
    _, variables = _default_shapes(name)
    assert _count(variables["params"]) == TORCHVISION[name]


@pytest.mark.parametrize("depth", sorted(BLOCKS))
def test_hand_count_equals_torchvision_and_pre_activation_models(depth):
    block, sizes = BLOCKS[depth]
    assert _imagenet_hand_count(block, sizes) == TORCHVISION[f"resnet{depth}"]
    _, variables = _default_shapes(f"resnet{depth}_v2")
    assert _count(variables["params"]) == _imagenet_hand_count(block, sizes, preact=True)


def test_hand_count_of_grouped_and_wide_bottlenecks():
    assert _imagenet_hand_count("bottleneck", (3, 4, 6, 3), groups=32, base_width=4) == TORCHVISION["resnext50_32x4d"]
    assert _imagenet_hand_count("bottleneck", (3, 4, 23, 3), base_width=128) == TORCHVISION["wide_resnet101_2"]


@pytest.mark.parametrize("name", sorted(CIFAR_PAPER))
def test_cifar_resnet_counts_equal_the_paper_and_the_hand_count(name):
    n, millions = CIFAR_PAPER[name]

    def stage(c_in, c, blocks):
        # Option-A shortcuts have no parameters: 2 convolutions 3×3 and 2 BNs per block.
        return 9 * c_in * c + 9 * c * c + 4 * c + (blocks - 1) * (2 * 9 * c * c + 4 * c)

    expected = 27 * 16 + 2 * 16 + stage(16, 16, n) + stage(16, 32, n) + stage(32, 64, n) + 65 * 10
    _, variables = _default_shapes(name)
    count = _count(variables["params"])
    assert count == expected
    assert round(count / 1e6, 2 if millions < 1 else 1) == millions
    assert 6 * n + 2 == int(name.removeprefix("resnet").removesuffix("_cifar"))


@pytest.mark.parametrize("name", sorted(WRN_PAPER))
def test_wide_resnet_counts_equal_the_paper_and_the_hand_count(name):
    depth, k, millions = WRN_PAPER[name]
    n = (depth - 4) // 6
    expected, c_in = 27 * 16, 16
    for width in (16 * k, 32 * k, 64 * k):
        for _ in range(n):
            # BN-ReLU-conv3×3-BN-ReLU-conv3×3, a 1×1 projection where the width changes.
            expected += 2 * c_in + 9 * c_in * width + 2 * width + 9 * width * width
            expected += c_in * width if c_in != width else 0
            c_in = width
    expected += 2 * c_in + (c_in + 1) * 10
    _, variables = _default_shapes(name)
    count = _count(variables["params"])
    assert count == expected
    assert round(count / 1e6, 1) == millions


def test_imagenet_taps_have_the_stage_strides_and_widths():
    model, variables = _default_shapes("resnet50")
    _, taps = jax.eval_shape(lambda v, x: model.apply(v, x), variables, jnp.zeros((1, 224, 224, 3)))
    assert {k: v.shape[1:] for k, v in taps.items()} == {
        "stem": (56, 56, 64), "stage1": (56, 56, 256), "stage2": (28, 28, 512), "stage3": (14, 14, 1024),
        "stage4": (7, 7, 2048), "features": (2048,)}


def test_cifar_taps_and_option_a_has_no_shortcut_parameters():
    model, variables = _default_shapes("resnet56_cifar")
    _, taps = jax.eval_shape(lambda v, x: model.apply(v, x), variables, jnp.zeros((1, 32, 32, 3)))
    assert {k: v.shape[1:] for k, v in taps.items()} == {
        "stem": (32, 32, 16), "stage1": (32, 32, 16), "stage2": (16, 16, 32), "stage3": (8, 8, 64), "features": (64,)}
    assert not any("shortcut" in k for block in variables["params"].values() for k in block)


def test_option_a_shortcut_takes_every_other_pixel_and_zero_pads_channels():
    # A zero last γ makes the branch output BN's β = 0, so the block is relu(shortcut(x)).
    block = BasicBlock(32, stride=2, shortcut="A", zero_init_last=True)
    x = jax.random.normal(jax.random.key(0), (2, 9, 9, 16))
    _, y = _run(block, x, False)
    expected = np.zeros((2, 5, 5, 32), np.float32)
    expected[..., :16] = np.maximum(np.asarray(x)[:, ::2, ::2, :], 0)
    np.testing.assert_array_equal(y, expected)


def test_projection_shortcut_is_a_strided_1x1_convolution_and_bn():
    block = Bottleneck(256, stride=2)
    params = jax.eval_shape(lambda x: block.init(jax.random.key(1), x, False), jnp.zeros((1, 8, 8, 64)))["params"]
    assert params["shortcut_conv"]["kernel"].shape == (1, 1, 64, 256)
    assert set(params["shortcut_bn"]) == {"scale", "bias"}
    assert params["conv2"]["kernel"].shape == (3, 3, 64, 64)


def test_zero_init_residual_makes_identity_blocks_the_identity():
    # resnet18 narrowed and shortened (the test is about the blocks, not the depth).
    model = cnn.models.create("resnet18", num_classes=10, zero_init_residual=True, stage_sizes=(2, 1),
                              stage_widths=(8, 16), stage_strides=(1, 2), stem_width=8)
    x = jax.random.normal(jax.random.key(0), (1, 32, 32, 3))
    _, (_, taps) = _run(model, x)
    # Stage 1 has only identity blocks and the stem ends in a ReLU: relu(x + 0) = x.
    np.testing.assert_array_equal(taps["stage1"], taps["stem"])


def test_pre_activation_layout_follows_he_et_al_code():
    _, variables = _default_shapes("resnet50_v2")
    params = variables["params"]
    assert "stem_bn" in params and params["final_bn"]["scale"].shape == (2048,)
    # The stem already ends in BN-ReLU, so only the first block skips its pre-activation.
    assert "preact_bn" not in params["stage1_block1"] and "preact_bn" in params["stage1_block2"]
    assert params["stage2_block1"]["preact_bn"]["scale"].shape == (256,)
    assert set(params["stage2_block1"]["shortcut_conv"]) == {"kernel"} and "shortcut_bn" not in params["stage2_block1"]


def test_keras_v2_stride_placement_moves_the_stride_to_the_end_of_the_stage():
    model, variables = _shapes("resnet50_v2", size=64, stem_norm=False, downsample="last")
    _, taps = jax.eval_shape(lambda v, x: model.apply(v, x), variables, jnp.zeros((1, 64, 64, 3)))
    assert [taps[f"stage{s}"].shape[1] for s in (1, 2, 3, 4)] == [8, 4, 2, 2]
    params = variables["params"]
    assert "shortcut_conv" not in params["stage1_block3"] and "preact_bn" in params["stage1_block1"]


def _loss_and_grad(model, x):
    def loss(params, stats):
        (logits, _), updates = model.apply({"params": params, "batch_stats": stats}, x, train=True,
                                           mutable=["batch_stats"], rngs={"dropout": jax.random.key(2)})
        return jnp.mean(jax.nn.log_softmax(logits)[:, 0]), updates

    return jax.grad(loss, has_aux=True)


@pytest.mark.parametrize("name, size", [("resnet18", 64), ("resnet20_cifar", 32)])
def test_forward_backward_for_real(name, size):
    model = cnn.models.create(name, num_classes=10)
    x = jax.random.normal(jax.random.key(0), (2, size, size, 3))
    variables = jax.jit(model.init)(_key(1), x)
    grads, updates = jax.jit(_loss_and_grad(model, x))(variables["params"], variables["batch_stats"])
    norms = [float(jnp.linalg.norm(g)) for g in jax.tree.leaves(grads)]
    assert all(np.isfinite(norms)) and sum(n > 0 for n in norms) == len(norms)
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), updates["batch_stats"], variables["batch_stats"])
    assert all(jax.tree.leaves(moved))


@pytest.mark.parametrize("name", FAMILY)
def test_forward_backward_shapes_of_every_model(name):
    model, variables = _default_shapes(name)
    x = jnp.zeros((1, *cnn.models.spec(name).input_shape))
    grads, _ = jax.eval_shape(_loss_and_grad(model, x), variables["params"], variables["batch_stats"])
    assert jax.tree.map(lambda g: g.shape, grads) == jax.tree.map(lambda p: p.shape, variables["params"])


def test_wide_resnet_dropout_is_in_the_training_graph_only():
    model, variables = _shapes("wrn28_10", dropout=0.3)
    x = jnp.zeros((1, 32, 32, 3))
    jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)  # no dropout rng needed
    with pytest.raises(flax.errors.InvalidRngError, match='Dropout_0 needs PRNG for "dropout"'):
        jax.eval_shape(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]), variables, x)


def test_wide_block_runs_bn_conv_bn_dropout_conv_after_its_projection():
    block = BasicBlock(32, stride=2, preact=True, dropout=0.3)
    x = jnp.zeros((1, 8, 8, 16))
    variables = jax.eval_shape(lambda x: block.init(jax.random.key(0), x, False), x)
    calls = []

    def record(next_fun, args, kwargs, context):
        if context.method_name == "__call__" and isinstance(context.module, (BatchNorm, Conv, Dropout)):
            calls.append(context.module.name)
        return next_fun(*args, **kwargs)

    with flax.linen.intercept_methods(record):
        rngs = {"dropout": jax.random.key(1)}
        jax.eval_shape(lambda v, x: block.apply(v, x, True, mutable=["batch_stats"], rngs=rngs), variables, x)
    # The projection runs before the branch, as Keras lists it (the importer pairs in this order).
    assert calls == ["preact_bn", "shortcut_conv", "conv1", "bn1", "Dropout_0", "conv2"]


@pytest.mark.parametrize("fields, message", [
    ({"groups": 32}, "a BasicBlock has two plain 3×3 convolutions"),
    ({"preact": True, "zero_init_residual": True}, "has no last γ to zero"),
    ({"downsample": "middle"}, "downsample is 'first'"),
    ({"shortcut": "C"}, "shortcut is option 'A'"),
    ({"stage_strides": (1, 2, 2)}, "one size, width and stride per stage"),
])
def test_bad_fields_are_explained(fields, message):
    model = cnn.models.create("resnet18", num_classes=10, **fields)
    with pytest.raises(ValueError, match=message):
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))


def test_registry_names_and_defaults():
    assert set(FAMILY) == {*TORCHVISION, *CIFAR_PAPER, *WRN_PAPER, *(f"resnet{d}_v2" for d in BLOCKS)}
    assert cnn.models.spec("resnet50").input_shape == (224, 224, 3)
    assert cnn.models.spec("wrn28_10").input_shape == (32, 32, 3) and cnn.models.spec("wrn28_10").num_classes == 10
