"""Trains SparseAutoencoders on one device and sharded over eight; saves both.

Usage: `python train_sharded_sae.py OUT_DIR CASE...`, each CASE one of
`CASES`; `OUT_DIR/<case>_<one|sharded>.npz` holds the probe's codes before
and after training, every weight and the optimizer's state, and
`OUT_DIR/<case>.json` the sharded run's mesh and the shape of each
device's block of the encoder.

JAX takes its eight host devices from `XLA_FLAGS` when it starts, so
`test_model_parallel.py` runs this script in a fresh process. Each case
trains twice from the same weights on the same 20 batches (`shuffle=False`,
Adam): once with no distribution, once under
`keras.distribution.ModelParallel` with `sae_layout_map`, the latents
split along the mesh's "model" axis. `dead_after` is two batches, so
latents die and AuxK ranks the dead ones within the run.
"""

import inspect
import json
import os
import pathlib
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import keras  # noqa: E402
import numpy as np  # noqa: E402

from sparsekeras.models import SparseAutoencoder, sae_layout_map  # noqa: E402

INPUT_DIM, UNITS, K, BATCH, STEPS = 16, 64, 4, 32, 20
DEAD = BATCH
# name: (model arguments, mesh shape (batch, model))
CASES = {
    "topk": ({"activation": "topk"}, (1, 8)),
    "batch_topk": ({"activation": "batch_topk"}, (2, 4)),
    "matryoshka": (
        {"activation": "batch_topk", "matryoshka_groups": [8, 8, 16, 32]},
        (1, 8),
    ),
}


def supports(arguments):
    parameters = inspect.signature(SparseAutoencoder).parameters
    return all(name in parameters for name in arguments)


def data():
    """`STEPS` training batches and a probe batch, sparse sums of atoms."""
    rng = np.random.default_rng(0)
    rows = BATCH * (STEPS + 1)
    atoms = rng.normal(size=(UNITS, INPUT_DIM))
    codes = rng.exponential(size=(rows, UNITS))
    codes *= rng.random(size=codes.shape) < 0.1
    x = codes @ atoms + 0.1 * rng.normal(size=(rows, INPUT_DIM))
    x = x.astype("float32")
    return x[:-BATCH], x[-BATCH:]


def model(arguments, x):
    keras.utils.set_random_seed(1)
    sae = SparseAutoencoder(UNITS, K, dead_after=DEAD, name="sae", **arguments)
    sae.adapt(x)
    return sae


def train(sae, weights, x, probe):
    sae.set_weights(weights)
    before = keras.ops.convert_to_numpy(sae.encode(probe))
    sae.compile(optimizer=keras.optimizers.Adam(1e-2))
    dead = []
    count_dead = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: dead.append(
            round(float(logs["dead_fraction"]) * UNITS)
        )
    )
    sae.fit(
        x,
        batch_size=BATCH,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[count_dead],
    )
    after = keras.ops.convert_to_numpy(sae.encode(probe))
    result = {"codes_before": before, "codes_after": after, "dead": dead}
    for variable in sae.variables:
        result[variable.path] = keras.ops.convert_to_numpy(variable)
    for variable in sae.optimizer.variables:
        # The optimizer's name differs between the runs (adam, adam_1).
        name = variable.path.split("/", 1)[1]
        result[f"optimizer/{name}"] = keras.ops.convert_to_numpy(variable)
    return result


def main():
    out = pathlib.Path(sys.argv[1])
    x, probe = data()
    for case in sys.argv[2:]:
        arguments, shape = CASES[case]
        one = model(arguments, x)
        weights = one.get_weights()
        np.savez(out / f"{case}_one.npz", **train(one, weights, x, probe))
        devices = keras.distribution.list_devices("cpu")
        mesh = keras.distribution.DeviceMesh(shape, ["batch", "model"], devices)
        distribution = keras.distribution.ModelParallel(
            layout_map=sae_layout_map(mesh), batch_dim_name="batch"
        )
        with distribution.scope():
            sharded = model(arguments, x)
            result = train(sharded, weights, x, probe)
        np.savez(out / f"{case}_sharded.npz", **result)
        encoder = sharded.encoder_kernel.value
        report = {
            "devices": len(devices),
            "mesh": list(shape),
            "encoder_block": list(encoder.sharding.shard_shape(encoder.shape)),
        }
        (out / f"{case}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
