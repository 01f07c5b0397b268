"""Step time of `SparseAutoencoder` at the SAE shapes, meant for a GPU.

On a GPU machine with JAX and Keras installed, from the project's root:

    KERAS_BACKEND=jax python -m benchmarks.sae_gpu \
        [--input-dim 768 --units 24576 --k 32 --batch-size 4096]

It times `fit` steps (median of `--steps` after `--warmup`) of, on the
same random Gaussian inputs: a plain `Dense -> KSparse -> Dense`
autoencoder of the same shape, `SparseAutoencoder` with every mitigation
(`"topk"`), and the same with `"batch_topk"`; it prints one JSON object
with the device, the times and the ratios to the plain autoencoder. It
runs on a CPU too (try `--units 2048 --batch-size 256`), only slowly.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import timing  # noqa: E402
from sparsekeras.layers import KSparse  # noqa: E402
from sparsekeras.models import SparseAutoencoder  # noqa: E402


def plain(input_dim, units, k):
    inputs = keras.Input((input_dim,))
    codes = KSparse(k)(keras.layers.Dense(units)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(input_dim)(codes))
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
    return model


def sae(input_dim, units, k, activation):
    model = SparseAutoencoder(units, k, activation=activation)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    return model


def median_step(model, x, y, batch_size, steps, warmup):
    timer = timing.StepTimer()
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=1,
        steps_per_epoch=steps + warmup,
        verbose=0,
        callbacks=[timer],
    )
    return 1e3 * float(np.median(timer.times[warmup:]))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sae_gpu")
    parser.add_argument("--input-dim", type=int, default=768)
    parser.add_argument("--units", type=int, default=24576)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    batches = args.steps + args.warmup
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batches * args.batch_size, args.input_dim))
    x = x.astype("float32")
    timing = dict(
        batch_size=args.batch_size, steps=args.steps, warmup=args.warmup
    )
    shape = (args.input_dim, args.units, args.k)
    results = {"plain_ksparse_ms": median_step(plain(*shape), x, x, **timing)}
    for activation in ("topk", "batch_topk"):
        model = sae(*shape, activation)
        results[f"sae_{activation}_ms"] = median_step(model, x, None, **timing)
        results[f"sae_{activation}_ratio"] = (
            results[f"sae_{activation}_ms"] / results["plain_ksparse_ms"]
        )
    results.update(
        backend=keras.backend.backend(),
        device=str(keras.distribution.list_devices()[0]),
        shape=f"{args.input_dim}->{args.units}, k={args.k}, "
        f"batch {args.batch_size}",
    )
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
