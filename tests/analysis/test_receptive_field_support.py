"""The traced field equals the input support of a unit's gradient in linear, positive-weight versions of
zoo models (`linear_testing`): autodiff through the models' own operations, no field arithmetic."""

import warnings

import jax
import pytest

from cnn.analysis import receptive_fields
from cnn.layers.padding import BorderWarning
from cnn.models.registry import create, spec
from tests.analysis.linear_testing import gradient_support

CASES = [  # (model, input size, overrides, layers): fields inside the input, so the bounds are not all clipped
    ("alexnet_2012", None, {}, ("tap:conv2", "tap:pool5")),
    ("resnet18", 128, {}, ("tap:stage2", "tap:stage3")),
    ("googlenet_2014", 128, {}, ("tap:inception_3b",)),
    ("densenet_bc_100_12", None, {}, ("tap:block1", "tap:transition1")),
    ("shufflenet_v2_x0_5", 128, {}, ("tap:stage2",)),
    ("mobilenet_v2", 128, {}, ("tap:stage3",)),
    ("nasnet_a_mobile", 95, {}, ("tap:stem_cell0", "tap:stem_cell1")),  # stem_cell1's paths are misaligned
    ("inception_v3", 139, {"aux_logits": False}, ("tap:Mixed_5b",)),
]


@pytest.mark.parametrize("name, size, overrides, layers", CASES, ids=[c[0] for c in CASES])
def test_field_is_the_gradient_support_of_the_linear_model(name, size, overrides, layers):
    fields = receptive_fields(name, size, **overrides)
    h, w, c = spec(name).input_shape
    shape = (size or h, size or w, c)
    model = create(name, num_classes=10, **overrides)
    for layer in layers:
        field = fields.field(layer)
        grid = fields.shapes[layer][:-1]
        units = [(0, 0), tuple((n - 1) // 2 for n in grid), tuple(n - 1 for n in grid)]
        expected = [tuple((max(int(lo), 0), min(int(hi), n - 1)) for (lo, hi), n in zip(field.bounds(u), shape[:-1]))
                    for u in units]
        with jax.enable_x64(), warnings.catch_warnings():
            # A size that leaves border pixels unread would make the far bounds differ by design.
            warnings.simplefilter("error", BorderWarning)
            assert gradient_support(model, shape, layer, units) == expected, (layer, field)
