"""Data parallelism with jax.sharding: one `data` mesh axis, batches split along it, state replicated.

The train step is compiled once by `jax.jit` for the mesh. Because the batch is a single
global array sharded over the devices (not one array per device, as with pmap), every
reduction in the step, the loss mean and the BatchNorm batch statistics included, is over
the whole global batch: XLA inserts the cross-device sums itself. The same code therefore
computes the same numbers on 1 device or 8, up to the order of floating-point sums.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from cnn.config import ConfigError
from cnn.data.resident import ResidentSplit, nbytes
from cnn.data.sources import RandomAccessSplit, Split

DATA_AXIS = "data"


def make_mesh(num_devices: int = -1) -> Mesh:
    """A one-axis mesh over the first `num_devices` devices (all of them when <= 0)."""
    devices = jax.devices()
    if num_devices > len(devices):
        raise ConfigError(
            f"config.mesh.data asks for {num_devices} devices but only {len(devices)} are visible "
            f"({devices[0].platform}); set config.mesh.data=-1 to use all of them")
    if num_devices > 0:
        devices = devices[:num_devices]
    return Mesh(np.array(devices), (DATA_AXIS,))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """Refuses a global batch the data axis cannot split into equal per-device shards."""
    n = mesh.shape[DATA_AXIS]
    if batch_size % n:
        lower, upper = batch_size // n * n, (batch_size // n + 1) * n
        nearest = f"{lower} or {upper}" if lower else f"{upper}"
        raise ConfigError(
            f"config.batch_size {batch_size} does not split over the {n} devices of the data axis; "
            f"use a multiple of {n} (e.g. {nearest}), or fewer devices with config.mesh.data")


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split along the data axis, every other dimension whole."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def put_batch(batch: dict[str, np.ndarray | jax.Array], mesh: Mesh) -> dict[str, jax.Array]:
    """Assembles this process's rows of a global batch into global arrays sharded over the mesh; arrays
    already laid out so (a `ResidentSplit`'s batches) pass through."""
    sharding = batch_sharding(mesh)
    return {k: v if isinstance(v, jax.Array) and v.sharding.is_equivalent_to(sharding, v.ndim)
            else jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


# The share of a device's memory (of the host's, on CPU) an in-memory split may take on every device.
RESIDENT_SHARE = 0.25


def _device_bytes(device: jax.Device) -> int:
    stats = device.memory_stats()  # None on CPU, whose device memory is the host's
    if stats and "bytes_limit" in stats:
        return stats["bytes_limit"]
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def on_mesh(split: RandomAccessSplit, mesh: Mesh) -> RandomAccessSplit:
    """`split` as the batch pipeline should read it on `mesh`: an in-memory split that fits in
    `RESIDENT_SHARE` of each device's memory is placed on every device once (`ResidentSplit`); TFDS and
    synthetic splits, bigger ones, and every split of a multi-process run are read from the host."""
    if not isinstance(split, Split) or jax.process_count() > 1:
        return split
    if nbytes(split) > RESIDENT_SHARE * min(_device_bytes(d) for d in mesh.devices.flat):
        return split
    return ResidentSplit(split, replicated(mesh), batch_sharding(mesh))


def replicate(tree, mesh: Mesh):
    """Places a pytree (the train state) whole on every device of the mesh."""
    return jax.device_put(tree, replicated(mesh))


def jit_train_step(step: Callable, mesh: Mesh) -> Callable:
    """Compiles `step(state, batch, rng) -> (state, metrics)` for the mesh; the input state's buffers are donated."""
    return jax.jit(
        step,
        in_shardings=(replicated(mesh), batch_sharding(mesh), replicated(mesh)),
        out_shardings=(replicated(mesh), replicated(mesh)),
        donate_argnums=0,
    )


def jit_eval_step(step: Callable, mesh: Mesh) -> Callable:
    """Compiles `step(state, batch) -> sums` for the mesh."""
    return jax.jit(step, in_shardings=(replicated(mesh), batch_sharding(mesh)), out_shardings=replicated(mesh))


def one_call_in_flight(fn: Callable, mesh: Mesh) -> Callable:
    """`fn`, waiting for each call's results before returning them when the mesh has several CPU devices here.

    XLA's CPU runtime runs every device's share of a program on one small thread pool. With two
    programs in flight, a device that has started the second waits in its cross-device sum for a
    device still queued behind it: on 2 cores, 2 local devices (one process, or each of several
    joined by gloo) deadlocked within a few steps. GPUs and TPUs, and single-device CPU runs, keep
    JAX's asynchronous dispatch.
    """
    here = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
    if here[0].platform != "cpu" or len(here) < 2:
        return fn

    @functools.wraps(fn)
    def waited(*args):
        return jax.block_until_ready(fn(*args))

    return waited
