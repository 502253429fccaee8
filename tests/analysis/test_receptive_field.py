"""The analytic receptive field against hand computation (Araujo et al.'s recurrences worked by hand) and
the published TF-slim table of Araujo et al. (github.com/google-research/receptive_field)."""

import flax.linen as nn
import jax.numpy as jnp
import pytest

from cnn.analysis import receptive_fields, trace_fields


class Stack(nn.Module):
    """A few layers given as functions of x, so each test states its net in one line."""

    layers: tuple

    @nn.compact
    def __call__(self, x, train=False):
        for i, layer in enumerate(self.layers):
            x = layer(self, x, i)
        return x


def conv(k, stride=1, padding="VALID", dilation=1):
    return lambda m, x, i: nn.Conv(2, (k, k), stride, padding=padding, kernel_dilation=dilation, name=f"l{i}")(x)


def max_pool(k, stride, padding="VALID"):
    return lambda m, x, i: nn.max_pool(x, (k, k), (stride, stride), padding)


def final(layers, size=32):
    fields = trace_fields(Stack(tuple(layers)), (size, size, 1))
    return fields.layers[f"l{len(layers) - 1}"] if f"l{len(layers) - 1}" in fields.layers else fields


def test_a_strided_stack_multiplies_the_later_kernels_by_the_stride():
    # r = 3 + (3 − 1)·2 = 7; S = 2; P = 1 + 1·2 = 3.
    f = final([conv(3, 2, 1), conv(3, 1, 1)])
    assert (f.size, f.stride, f.padding) == ((7, 7), (2, 2), (3, 3))
    assert f.spatial and f.aligned and not f.global_context
    assert f.center((2, 5)) == (4 - 3 + 3, 10 - 3 + 3)  # u·S − P + (r − 1)/2
    assert f.bounds((0, 1)) == ((-3, 3), (-1, 5))


def test_dilated_kernels_count_as_d_times_k_minus_one_plus_one():
    # 3×3 at dilation 2 spans 5; then 3×3 at dilation 4 spans 9: r = 5 + 8 = 13, P = 2 + 4 = 6.
    f = final([conv(3, 1, 2, dilation=2), conv(3, 1, 4, dilation=4)])
    assert (f.size, f.stride, f.padding) == ((13, 13), (1, 1), (6, 6))


def test_pooling_and_valid_convolutions():
    # 3×3/2 max pool (r 3, S 2), a 5×5 VALID conv (r 3 + 4·2 = 11), then a 2×2/2 pool (r 11 + 1·2 = 13, S 4).
    stack = Stack((max_pool(3, 2), conv(5), max_pool(2, 2)))
    fields = trace_fields(stack, (40, 40, 1))
    assert fields.layers["l1"].size == (11, 11) and fields.layers["l1"].stride == (2, 2)
    assert fields.final()[1].size == (11, 11)  # the last pool is no module: the largest module field
    stack = Stack((max_pool(3, 2), conv(5), max_pool(2, 2), conv(1)))
    f = trace_fields(stack, (40, 40, 1)).layers["l3"]
    assert (f.size, f.stride, f.padding) == ((13, 13), (4, 4), (0, 0))


def test_asymmetric_padding_moves_the_effective_padding_by_the_low_side_only():
    # TensorFlow's "SAME" at stride 2 on an even size pads (0, 1): P stays 0.
    pad = lambda m, x, i: jnp.pad(x, ((0, 0), (0, 1), (2, 1), (0, 0)))  # noqa: E731
    f = final([pad, conv(3, 2)], size=8)
    assert (f.size, f.stride, f.padding) == ((3, 3), (2, 2), (0, 2))


def test_rectangular_kernels_give_a_field_per_axis():
    f = trace_fields(Stack((lambda m, x, i: nn.Conv(1, (3, 7), name="l0")(x),)), (16, 20, 3)).layers["l0"]
    assert f.size == (3, 7)


def test_a_transposed_convolution_divides_the_stride():
    up = lambda m, x, i: nn.ConvTranspose(1, (2, 2), (2, 2), name=f"l{i}")(x)  # noqa: E731
    f = final([conv(3, 2, 1), up], size=16)
    assert f.stride == (1, 1) and f.size == (4, 4)  # 3 + (2 − 1)·2/2


class TwoBranch(nn.Module):
    """y = conv_a(x) + conv_b(x): aligned when both regions share a centre."""

    branch_b: tuple  # (kernel, padding) of the second branch

    @nn.compact
    def __call__(self, x, train=False):
        k, padding = self.branch_b
        return nn.Conv(1, (3, 3), padding=1, name="a")(x) + nn.Conv(1, (k, k), padding=padding, name="b")(x)


def test_a_residual_style_sum_of_centred_paths_is_aligned():
    fields = trace_fields(TwoBranch((1, 0)), (8, 8, 1))
    assert fields.misalignments == ()
    assert fields.final() == ("a", fields.layers["a"])  # the sum is no module; its field is the 3×3's
    assert fields.layers["b"].size == (1, 1)


def test_misaligned_paths_are_flagged_and_the_union_is_reported():
    # Branch a sees [u − 1, u + 1]; branch b (2×2, padding (0, 1)) sees [u, u + 1]: centres u and u + ½.
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            return TwoBranch((2, ((0, 1), (0, 1))), name="pair")(x)

    fields = trace_fields(Net(), (8, 8, 1))
    f = fields.layers["pair"]
    assert not f.aligned and (f.size, f.padding) == ((3, 3), (1, 1))
    assert {(m.axis, m.centers) for m in fields.misalignments} == {(0, (0.0, 0.5)), (1, (0.0, 0.5))}


class Identity(nn.Module):
    @nn.compact
    def __call__(self, x):
        return x


def test_dense_layers_see_the_whole_input_and_global_gates_are_context():
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            x = nn.Conv(4, (3, 3), padding=1, name="conv")(x)
            gate = nn.sigmoid(nn.Dense(4, name="gate")(x.mean(axis=(1, 2))))
            x = Identity(name="excited")(x * gate[:, None, None, :])
            return nn.Dense(3, name="head")(x.reshape(x.shape[0], -1))

    fields = trace_fields(Net(), (10, 12, 3))
    excited, head = fields.layers["excited"], fields.layers["head"]
    assert excited.size == (3, 3) and excited.spatial and excited.global_context
    assert (head.size, head.padding, head.spatial) == ((10, 12), (0, 0), False)
    assert fields.layers["gate"].size == (10, 12)


# Araujo et al.'s TF-slim vgg_16 table, which is also the hand computation: (layer, r, S, P).
VGG16 = [("conv1_1", 3, 1, 1), ("tap:stage1", 6, 2, 2), ("conv2_1", 10, 2, 4), ("tap:stage2", 16, 4, 6),
         ("conv3_1", 24, 4, 10), ("conv3_2", 32, 4, 14), ("tap:stage3", 44, 8, 18), ("conv4_1", 60, 8, 26),
         ("conv4_2", 76, 8, 34), ("tap:stage4", 100, 16, 42), ("conv5_1", 132, 16, 58), ("conv5_2", 164, 16, 74),
         ("tap:stage5", 212, 32, 90)]


@pytest.mark.filterwarnings("ignore:.*never read")  # 321 leaves a border unread, as slim's table does
@pytest.mark.parametrize("input_size", [224, 321])
def test_vgg16_layer_by_layer(input_size):
    fields = receptive_fields("vgg16", input_size)
    got = [(name, *(v[0] for v in (f.size, f.stride, f.padding))) for name in (r[0] for r in VGG16)
           for f in [fields.field(name)]]
    assert got == VGG16
    assert fields.final()[0] == "tap:stage5"
    with pytest.raises(ValueError, match=r"no module or tap 'conv6_1'.*tap:stage5"):
        fields.field("conv6_1")
    assert fields.layers["fc6"].size == (input_size, input_size) and not fields.layers["fc6"].spatial


@pytest.mark.parametrize("name, overrides, layer, expected", [
    ("vgg11", {}, "tap:stage5", (150, 32, 59)),  # vgg_a
    ("alexnet_2012", {}, "tap:pool5", (195, 32, 64)),  # alexnet_v2: the same windows and paddings
    ("inception_v3", {}, "tap:Mixed_7c", (1311, 32, 618)),
    ("mobilenet_v1", {"padding_style": "tf"}, "tap:stage5", (315, 32, 126)),
])
def test_published_final_fields(name, overrides, layer, expected):
    fields = receptive_fields(name, **overrides)
    f = fields.field(layer)
    assert (f.size[0], f.stride[0], f.padding[0]) == expected
    assert f.size[0] == f.size[1] and f.aligned


def test_definitions_that_differ_from_tf_slim_differ_only_where_expected():
    # torchvision's AlexNet pads conv1 by 2 (slim: 0), which moves P by 2 and nothing else; PyTorch's
    # symmetric padding moves MobileNet's P away from slim's "SAME" but keeps r and S.
    assert receptive_fields("alexnet").field("tap:pool5").padding == (66, 66)
    mobilenet = receptive_fields("mobilenet_v1").field("tap:stage5")
    assert (mobilenet.size, mobilenet.stride) == ((315, 315), (32, 32)) and mobilenet.padding != (126, 126)


def test_nasnet_factorized_reductions_are_flagged_misaligned():
    # The second path of NASNet's factorized reduction is shifted by one pixel by construction.
    fields = receptive_fields("nasnet_a_mobile")
    assert fields.misalignments and not fields.final()[1].aligned


def test_squeeze_excitation_is_global_context_and_plain_resnet_is_not():
    assert receptive_fields("se_resnet50").field("tap:stage4").global_context
    plain = receptive_fields("resnet50").field("tap:stage4")
    assert not plain.global_context and plain.aligned and plain.size == (427, 427)
