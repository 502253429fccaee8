"""Every registered model is traced at its native size with a rule for each of its operations."""

import warnings

import pytest

from cnn.analysis import receptive_fields
from cnn.layers.padding import BorderWarning
from cnn.models.registry import names, spec

MISALIGNED = {"nasnet_a_mobile", "nasnet_a_large"}  # factorized reductions shift one path by a pixel


@pytest.mark.parametrize("name", names())
def test_zoo_model_is_traced(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BorderWarning)  # e.g. VGG at 224 is exact; other sizes are not the point
        fields = receptive_fields(name)
    assert fields.untracked == ()
    layer, final = fields.final()
    h, w, _ = spec(name).input_shape
    assert final.spatial and final.size[0] > 1 and final.stride[0] in (4, 8, 16, 32), (layer, final)
    assert final.aligned == (name not in MISALIGNED) and bool(fields.misalignments) == (name in MISALIGNED)
    # Past the head's global pooling or flattening, a unit reads the whole input (NiN and SqueezeNet
    # return their globally pooled logits without a module or tap after the pooling).
    head = [f for f in [*fields.layers.values(), *fields.taps.values()] if not f.spatial]
    assert all(f.size == (h, w) for f in head) and (head or name.startswith(("nin", "squeezenet")))
