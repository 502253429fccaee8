"""Fine-tuning: the cut and its new head, layer groups, the strategies' multipliers and the optimizer they build."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from cnn.config import ConfigError
from cnn.models import create, initialized
from cnn.transfer.finetune import _batch_norms_in
from cnn.transfer.groups import DROPPED, HEAD, layer_groups
from cnn.transfer.strategies import fine_tuning_optimizer, group_multipliers, multiplier_at
from cnn.transfer.surgery import Transferred


def _transferred_features(name, cut, head_input, input_shape):
    model, variables = initialized(name)
    wrapped = Transferred(model, cut, 3, head_input)
    x = jnp.zeros((2, *input_shape))
    out = jax.eval_shape(lambda: wrapped.init_with_output(jax.random.key(0), x)[0])
    return out[0].shape, out[1]["features"].shape, set(out[1])  # eval_shape sorts the tap dict


@pytest.mark.parametrize("cut, head_input, features", [
    ("s4", "flatten", 400),  # 5·5·16: what LeNet-5's C5 saw
    ("s4", "avg", 16),
    ("c5", "avg", 120),  # 1×1 maps: pooling and flattening agree
    ("f6", "avg", 84),
])
def test_cutting_lenet5_gives_the_tap_width_as_features(cut, head_input, features):
    logits, got, taps = _transferred_features("lenet5", cut, head_input, (28, 28, 1))
    assert logits == (2, 3) and got == (2, features)
    order = ["c1", "s2", "c3", "s4", "c5", "f6"]
    assert taps == {*order[: order.index(cut) + 1], "features"}


def test_cutting_a_resnet_after_its_second_stage_pools_its_channels():
    logits, got, taps = _transferred_features("resnet20_cifar", "stage2", "avg", (32, 32, 3))
    assert logits == (2, 3) and got == (2, 32)  # stage widths 16, 32, 64 (He et al. 2016, section 4.2)
    assert taps == {"stem", "stage1", "stage2", "features"}


def test_an_unknown_cut_lists_the_taps():
    with pytest.raises(ValueError, match=r"no tap 'c4'.*'c1', 's2', 'c3'"):
        _transferred_features("lenet5", "c4", "avg", (28, 28, 1))


def _label_of(labels, path):
    for key in path.split("/"):
        labels = labels[key]
    return set(jax.tree.leaves(labels))


def test_lenet5_groups_follow_its_layers_and_drop_what_the_cut_does_not_reach():
    model, variables = initialized("lenet5")
    groups = layer_groups(model, variables, (28, 28, 1), "c5")
    expected = {"c1": "c1", "c3": "c3", "c5": "c5", "f6": DROPPED, "output": DROPPED}
    assert {layer: _label_of(groups.labels, layer) for layer in expected} == {k: {v} for k, v in expected.items()}
    assert groups.order == ["c1", "c3", "c5"]  # s2 and s4 hold no parameters


def test_resnet_groups_by_stage_from_the_parameter_names():
    model, variables = initialized("resnet20_cifar")
    groups = layer_groups(model, variables, (32, 32, 3), "stage2")
    for layer in variables["params"]:  # stem_conv, stem_bn, stage1_block1 ... stage3_block3, fc
        expected = layer.split("_")[0] if layer.startswith(("stem", "stage1", "stage2")) else DROPPED
        assert _label_of(groups.labels, layer) == {expected}, layer
    assert groups.order == ["stem", "stage1", "stage2"]


class _Skip(nn.Module):
    """b runs before t1 is computed but only t2 uses it; d and out come after the cut at t2."""

    @nn.compact
    def __call__(self, x, train=False):
        taps = {}
        a = taps["t1"] = nn.Dense(4, name="a")(x)
        skip = nn.Dense(4, name="b")(x)
        taps["t2"] = nn.Dense(4, name="c")(a) + skip
        taps["t3"] = nn.Dense(4, name="d")(taps["t2"])
        return nn.Dense(2, name="out")(taps["t3"]), taps


def test_groups_follow_dependence_not_call_order():
    model = _Skip()
    variables = model.init(jax.random.key(0), jnp.zeros((1, 3)))
    groups = layer_groups(model, variables, (3,), "t2")
    assert {k: _label_of(groups.labels, k) for k in "abcd"} == {"a": {"t1"}, "b": {"t2"}, "c": {"t2"}, "d": {DROPPED}}
    assert _label_of(groups.labels, "out") == {DROPPED}


def _transfer(**values):
    config = ml_collections.ConfigDict({"strategy": "fade", "freeze_until": "c3", "fade_start_epochs": 1.0,
                                        "fade_epochs": 2.0, "fade_stagger_epochs": 1.0, "layer_decay": 1.0})
    config.update(values)
    return config


ORDER = ["c1", "c3", "c5", "f6", HEAD]


def test_fade_thaws_from_the_top_down_on_the_configured_schedule():
    # 10 steps per epoch: c3 (the deepest frozen group) ramps over steps 10-30, c1 one epoch later over 20-40;
    # with layer decay 1/2 the head trains at 1, f6 at 1/2, c5 at 1/4, c3 at 1/8, c1 at 1/16.
    m = group_multipliers(_transfer(layer_decay=0.5), ORDER, steps_per_epoch=10)
    at = {g: [multiplier_at(m[g], s) for s in (0, 10, 20, 30, 40, 100)] for g in ORDER}
    assert at[HEAD] == [1.0] * 6 and at["f6"] == [0.5] * 6 and at["c5"] == [0.25] * 6
    np.testing.assert_allclose(at["c3"], [0, 0, 0.0625, 0.125, 0.125, 0.125], rtol=1e-6)
    np.testing.assert_allclose(at["c1"], [0, 0, 0, 0.03125, 0.0625, 0.0625], rtol=1e-6)
    assert multiplier_at(m[DROPPED], 50) == 0.0


def test_freeze_holds_the_groups_up_to_freeze_until_and_all_trains_everything():
    frozen = group_multipliers(_transfer(strategy="freeze", freeze_until="c5"), ORDER, 10)
    assert [frozen[g] for g in ORDER] == [0.0, 0.0, 0.0, 1.0, 1.0]
    for strategy in ("all", "scratch"):
        assert [group_multipliers(_transfer(strategy=strategy), ORDER, 10)[g] for g in ORDER] == [1.0] * 5


@pytest.mark.parametrize("values, message", [
    ({"strategy": "thaw"}, "strategy 'thaw': use one of scratch, all, freeze, fade"),
    ({"freeze_until": "c4"}, r"freeze_until 'c4' names no layer group.*\['c1', 'c3', 'c5', 'f6'\]"),
    ({"layer_decay": 0.0}, r"layer_decay must lie in \(0, 1\]"),
    ({"fade_epochs": 0.0}, "fade_epochs 0.0 spans no step"),
])
def test_bad_transfer_settings_name_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        group_multipliers(_transfer(**values), ORDER, 10)


def test_the_optimizer_scales_each_group_and_never_moves_a_frozen_one():
    keys = iter(jax.random.split(jax.random.key(0), 100))
    params = {g: {"kernel": jax.random.normal(next(keys), (3, 2)), "bias": jax.random.normal(next(keys), (2,))}
              for g in ORDER}
    labels = {g: {"kernel": g, "bias": g} for g in ORDER}
    multipliers = {"c1": 0.0, "c3": 0.0, "c5": optax.linear_schedule(0.0, 1.0, 4), "f6": 0.5, HEAD: 1.0}
    base = lambda: optax.chain(optax.clip_by_global_norm(0.5), optax.add_decayed_weights(1e-2),  # noqa: E731
                               optax.adam(0.1))
    tx, reference = fine_tuning_optimizer(base(), labels, multipliers), base()
    state, reference_state = tx.init(params), reference.init(params)
    start = params
    for step in range(6):
        grads = jax.tree.map(lambda p: jax.random.normal(next(keys), p.shape), params)
        updates, state = tx.update(grads, state, params)
        # The reference: the base optimizer on the gradients with the frozen groups zeroed, scaled per group.
        zeroed = {g: jax.tree.map(jnp.zeros_like, v) if g in ("c1", "c3") else v for g, v in grads.items()}
        expected, reference_state = reference.update(zeroed, reference_state, params)
        for g in ("c5", "f6", HEAD):
            scale = multiplier_at(multipliers[g], step) if g == "c5" else multipliers[g]
            for leaf in ("kernel", "bias"):
                np.testing.assert_allclose(updates[g][leaf], scale * expected[g][leaf], rtol=1e-6, atol=1e-7)
        params = optax.apply_updates(params, updates)
    for g in ("c1", "c3"):
        for leaf in ("kernel", "bias"):
            assert np.array_equal(params[g][leaf], start[g][leaf])  # bit-identical, weight decay included
    assert not np.array_equal(params["c5"]["kernel"], start["c5"]["kernel"])


def test_frozen_and_dropped_batch_norms_keep_their_running_statistics():
    # A VGG-11-BN of three one-conv stages (4, 6, 8 channels) on 8×8 images, cut after stage 2: stage 1 frozen,
    # stage 2 trains, stage 3 dropped.
    model = create("vgg11_bn", num_classes=3, kernels=((3,), (3,), (3,)), widths=(4, 6, 8), pool_size=1, hidden=5)
    x = jax.random.normal(jax.random.key(2), (4, 8, 8, 3))
    variables = model.init(jax.random.key(0), x[:1])
    groups = layer_groups(model, variables, (8, 8, 3), "stage2")
    still = _batch_norms_in(groups.labels, variables["batch_stats"], {"stage1", DROPPED})
    assert still == (("bn1_1",), ("bn3_1",))
    wrapped = Transferred(model, "stage2", 3, still_batch_norms=still)
    head = wrapped.init(jax.random.key(1), x[:1])["params"]["head"]
    full = {"params": {"backbone": variables["params"], "head": head},
            "batch_stats": {"backbone": variables["batch_stats"]}}
    _, updated = jax.jit(lambda v: wrapped.apply(v, x, train=True, mutable=["batch_stats"],
                                                 rngs={"dropout": jax.random.key(3)}))(full)
    before, after = variables["batch_stats"], updated["batch_stats"]["backbone"]
    for layer in ("bn1_1", "bn3_1"):
        assert jax.tree.all(jax.tree.map(np.array_equal, before[layer], after[layer])), layer
    assert not np.array_equal(before["bn2_1"]["mean"], after["bn2_1"]["mean"])
