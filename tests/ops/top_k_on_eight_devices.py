"""Ranks rows split over eight host devices, and prints what it found.

Usage: `python top_k_on_eight_devices.py`; prints one JSON object.

JAX takes its host devices from `XLA_FLAGS` when it starts, so
`test_sharded_top_k.py` runs this script in a fresh process. Each case's
last axis is laid out over a mesh of 8 devices with `keras.distribution`;
the exact sharded top-k runs under `jax.jit` on it, and the backend's own
`top_k` runs on the same array on one device and, for comparison, under
`jax.jit` on the sharded array (jax issue #19271).
"""

import json
import os
import re

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from sparsekeras._ops.sharded_top_k import sharded_top_k  # noqa: E402
from sparsekeras.layers import BatchTopK, KSparse  # noqa: E402

SHARDS = 8


def cases():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(16, 256)).astype("float32")
    # Few distinct values: ties inside blocks and across them.
    ties = rng.integers(0, 4, size=(6, 64)).astype("float32")
    yield "normal_k5", normal, 5
    yield "normal_k1", normal, 1
    yield "ties_k3", ties, 3
    yield "ties_k12_more_than_a_block", ties, 12
    yield "ties_whole_row", ties, 64


def main():
    devices = keras.distribution.list_devices("cpu")
    mesh = keras.distribution.DeviceMesh((SHARDS,), ["model"], devices)
    by_latent = keras.distribution.TensorLayout([None, "model"], mesh)
    report = {"devices": len(devices), "cases": {}}
    for name, x, k in cases():
        one_values, one_indices = ops.top_k(x, k)
        split = keras.distribution.distribute_tensor(x, by_latent)

        def exact(x, k=k):
            return sharded_top_k(x, k, SHARDS, mesh=mesh, axis_name="model")

        values, indices = jax.jit(exact)(split)
        plain_values, _ = jax.jit(lambda x, k=k: ops.top_k(x, k))(split)
        report["cases"][name] = {
            "shape": list(x.shape),
            "shard_shape": list(split.sharding.shard_shape(split.shape)),
            "values": np.asarray(values).tolist(),
            "indices": np.asarray(indices).tolist(),
            "one_device_values": np.asarray(one_values).tolist(),
            "one_device_indices": np.asarray(one_indices).tolist(),
            "plain_top_k_sharded_values": np.asarray(plain_values).tolist(),
        }
    for layer in (KSparse, BatchTopK):
        report[f"{layer.__name__}_ranked_shapes"] = ranked_shapes(layer, mesh)
    print(json.dumps(report))


def ranked_shapes(layer_class, mesh):
    """What each device ranks in a k = 4 layer's program, its output split.

    Under a `ModelParallel` that lays out the layer's output (32 rows of
    256 latents) over the 8 devices: the shape of each `TopK` and `sort`
    operand in the partitioned program, which holds one device's share.
    """
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[".*/output"] = (None, "model")
    x = np.random.default_rng(1).normal(size=(32, 256)).astype("float32")
    with keras.distribution.ModelParallel(layout_map=layout_map).scope():
        layer = layer_class(4)
        layer.build(x.shape)
        split = keras.distribution.distribute_tensor(
            x, keras.distribution.TensorLayout([None, "model"], mesh)
        )
        state = [variable.value for variable in layer.non_trainable_variables]

        def train(state, x):
            return layer.stateless_call([], state, x, training=True)[0]

        program = jax.jit(train).lower(state, split).compile().as_text()
    shapes = dict(re.findall(r"(%[\w.-]+) = \(?\w+\[([\d,]*)\]", program))
    operands = re.findall(
        r"custom-call\((%[\w.-]+)\).*\"TopK\"|sort\((%[\w.-]+)", program
    )
    return [
        [int(size) for size in shapes[top_k or sort].split(",")]
        for top_k, sort in operands
    ]


if __name__ == "__main__":
    main()
