import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn.config import ConfigError, load_config
from cnn.train import train_and_evaluate
from cnn.train.run import build_run
from cnn.train.metrics import read_metrics

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CONFIG = os.path.join(ROOT, "experiments", "fashion_mnist", "lenet5.py")

# Runs with 8 forced CPU devices; prints one JSON object. The same steps run on a 1-device and
# an 8-device mesh of that process, so only the sharding differs.
SCRIPT = textwrap.dedent("""
    import json, os, sys
    import flax.linen as nn, jax, numpy as np, optax
    from cnn.config import ConfigError, load_config
    from cnn.train import create_train_state, train_and_evaluate
    from cnn.train.metrics import read_metrics
    from cnn.train.sharding import check_batch_size, jit_train_step, make_mesh, put_batch, replicate
    from cnn.train.steps import train_step

    class BNNet(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            x = nn.Conv(8, (3, 3), name="conv")(x)
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name="bn")(x)
            return nn.Dense(10, name="head")(nn.relu(x).mean(axis=(1, 2))), {}

    def batches():
        rng = np.random.default_rng(0)
        for _ in range(5):
            # Shards differ in distribution, so per-device BatchNorm statistics would differ from global ones.
            image = rng.normal(size=(32, 8, 8, 3)).astype(np.float32) * np.repeat(np.arange(1, 9), 4)[:, None, None, None]
            yield {"image": image, "label": rng.integers(0, 10, 32).astype(np.int32)}

    def run(n):
        mesh = make_mesh(n)
        state = replicate(create_train_state(BNNet(), optax.sgd(0.05, momentum=0.9), jax.random.key(0), (8, 8, 3)), mesh)
        first = jax.device_get(state.params)
        step = jit_train_step(train_step, mesh)
        losses, stats, devices = [], [], 0
        for batch in batches():
            batch = put_batch(batch, mesh)
            devices = len(batch["image"].sharding.device_set)
            state, metrics = step(state, batch, jax.random.key(1))
            losses.append(float(metrics["loss"]))
            stats.append({k: np.asarray(v).tolist() for k, v in state.batch_stats["bn"].items()})
        return {"losses": losses, "bn_stats": stats, "batch_devices": devices,
                "state_devices": len(state.params["head"]["kernel"].sharding.device_set),
                "first_conv": jax.tree.map(lambda a: np.asarray(a).tolist(), first["conv"])}

    out = {"device_count": jax.device_count(), "one": run(1), "eight": run(8)}
    try:
        check_batch_size(30, make_mesh(8))
    except ConfigError as e:
        out["indivisible"] = str(e)

    data_dir, workdir = sys.argv[1], sys.argv[2]
    for name, devices in (("run_one", 1), ("run_eight", -1)):
        config = load_config(sys.argv[3])
        config.update({"batch_size": 16, "num_train_steps": 12, "log_every_steps": 3, "eval_every_steps": 6,
                       "checkpoint_every_steps": 6})
        config.dataset.data_dir = data_dir
        config.schedule.warmup_epochs = 0.0
        config.mesh.data = devices
        final = train_and_evaluate(config, os.path.join(workdir, name))
        out[name] = {"final": final, "records": read_metrics(os.path.join(workdir, name))}
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def eight_devices(tmp_path_factory, shared_tiny_data_dir):
    workdir = tmp_path_factory.mktemp("sharded")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(shared_tiny_data_dir), str(workdir), CONFIG],
                          env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_eight_devices_split_the_batch_and_replicate_the_state(eight_devices):
    assert eight_devices["device_count"] == 8
    assert eight_devices["eight"]["batch_devices"] == 8 and eight_devices["eight"]["state_devices"] == 8
    assert eight_devices["one"]["batch_devices"] == 1


def test_eight_devices_give_the_losses_of_one(eight_devices):
    np.testing.assert_allclose(eight_devices["eight"]["losses"], eight_devices["one"]["losses"], rtol=1e-5)
    for one, eight in zip(eight_devices["one"]["bn_stats"], eight_devices["eight"]["bn_stats"]):
        np.testing.assert_allclose(eight["mean"], one["mean"], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(eight["var"], one["var"], rtol=1e-5)


def test_batchnorm_statistics_are_those_of_the_global_batch(eight_devices):
    # After one step the running statistics are momentum × their initial values (0 and 1) plus
    # (1 - momentum) × the conv output's mean and variance over the whole global batch. Per-device
    # statistics of these differently scaled shards would give other variances.
    conv = eight_devices["eight"]["first_conv"]
    rng = np.random.default_rng(0)
    image = rng.normal(size=(32, 8, 8, 3)).astype(np.float32) * np.repeat(np.arange(1, 9), 4)[:, None, None, None]
    out = jax.lax.conv_general_dilated(jnp.asarray(image), jnp.asarray(conv["kernel"]), (1, 1), "SAME",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC")) + np.asarray(conv["bias"])
    out = np.asarray(out, np.float64)
    stats = eight_devices["eight"]["bn_stats"][0]
    np.testing.assert_allclose(stats["mean"], 0.1 * out.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * out.var(axis=(0, 1, 2)), rtol=1e-4)
    shard_vars = out.reshape(8, -1, out.shape[-1]).var(axis=1).mean(axis=0)
    assert not np.allclose(stats["var"], 0.9 + 0.1 * shard_vars, rtol=1e-3)


def test_a_batch_the_devices_do_not_divide_is_refused(eight_devices):
    message = eight_devices["indivisible"]
    assert "config.batch_size 30" in message and "8 devices" in message and "24 or 32" in message


def test_a_whole_run_on_eight_devices_matches_one(eight_devices):
    one, eight = eight_devices["run_one"], eight_devices["run_eight"]
    assert [r["step"] for r in one["records"]] == [r["step"] for r in eight["records"]]
    for a, b in zip(one["records"], eight["records"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5), (a, b)
    assert eight["final"]["loss"] == pytest.approx(one["final"]["loss"], rel=1e-5)
    assert eight["final"]["top1"] == one["final"]["top1"]


def test_more_devices_than_visible_is_refused(tiny_data_dir, tmp_path):
    config = load_config(CONFIG)
    config.dataset.data_dir = str(tiny_data_dir)
    config.mesh.data = jax.device_count() + 1
    with pytest.raises(ConfigError, match=r"config.mesh.data asks for 2 devices but only 1"):
        build_run(config, str(tmp_path))


def test_bfloat16_compute_keeps_float32_parameters_and_tracks_float32(tiny_data_dir, tmp_path):
    results = {}
    for dtype in ("float32", "bfloat16"):
        config = load_config(CONFIG)
        config.dataset.data_dir = str(tiny_data_dir)
        config.update({"batch_size": 16, "num_train_steps": 6, "eval_every_steps": 6, "log_every_steps": 1,
                       "compute_dtype": dtype})
        config.schedule.warmup_epochs = 0.0
        results[dtype] = train_and_evaluate(config, str(tmp_path / dtype))
        run = build_run(config, str(tmp_path / dtype))
        state = run.checkpointer.restore_latest(run.state)
        run.checkpointer.close()
        assert {leaf.dtype for leaf in jax.tree.leaves(state.params)} == {jnp.dtype("float32")}
        assert {leaf.dtype for leaf in jax.tree.leaves(state.opt_state) if hasattr(leaf, "dtype")
                and jnp.issubdtype(leaf.dtype, jnp.floating)} == {jnp.dtype("float32")}
    first = {d: read_metrics(str(tmp_path / d))[0]["loss"] for d in results}
    # bf16 has an 8-bit mantissa: the first step's loss agrees to about 1%, not to float32 precision.
    assert first["bfloat16"] == pytest.approx(first["float32"], rel=2e-2) and first["bfloat16"] != first["float32"]
    assert results["bfloat16"]["loss"] == pytest.approx(results["float32"]["loss"], rel=0.1)
