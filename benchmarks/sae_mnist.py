"""The MNIST case (e) as a TopK SAE with every mitigation against dead units.

    python -m benchmarks.sae_mnist [--units 1000] [--k 25] [--epochs 15]
        [--data ../shared/data/mnist.npz]

Trains `SparseAutoencoder(units, k)` with its defaults (encoder = decoder
transpose, unit-norm decoder, geometric-median pre-encoder bias, AuxK,
`dead_after` = one epoch of 60,000 images) with `Adam(1e-3)` at batch
128 on the 60,000 MNIST training images (pixels / 255), then reports the
fraction of latents that never fire on the 10,000 test images
(`studies.instruments.dead_unit_fraction`, as the comparison counts
(e)'s dead units), the model's own dead fraction, the test FVU, and the
test accuracy of `studies.instruments.linear_probe_accuracy` on the
codes.
Reads `--data PATH` (full MNIST as an `.npz`, e.g.
`--data ../shared/data/mnist.npz`), else sparsekeras's `load_mnist()`.
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from sparsekeras import datasets  # noqa: E402
from sparsekeras.models import SparseAutoencoder  # noqa: E402
from sparsekeras.studies import instruments  # noqa: E402


def load(path):
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(path)
    flat = [
        x.reshape(len(x), -1).astype("float32") / 255 for x in (x_train, x_test)
    ]
    return flat[0], y_train, flat[1], y_test


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sae_mnist")
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--k", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--data", help="full MNIST .npz (default: load_mnist)")
    parser.add_argument("--out", help="a JSON file for the results")
    args = parser.parse_args(argv)
    x_train, y_train, x_test, y_test = load(args.data)
    keras.utils.set_random_seed(0)
    sae = SparseAutoencoder(args.units, args.k, dead_after=len(x_train))
    sae.adapt(x_train)
    sae.compile(optimizer=keras.optimizers.Adam(1e-3))
    started = time.perf_counter()
    sae.fit(x_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2)
    seconds = time.perf_counter() - started
    train_codes = keras.ops.convert_to_numpy(sae.encode(x_train))
    test_codes = keras.ops.convert_to_numpy(sae.encode(x_test))
    logs = sae.evaluate(x_test, verbose=0, return_dict=True)
    since = keras.ops.convert_to_numpy(sae.samples_since_fired)
    result = {
        "backend": keras.backend.backend(),
        "units": args.units,
        "k": args.k,
        "epochs": args.epochs,
        "dead_on_test": instruments.dead_unit_fraction(test_codes),
        "dead_state": float(np.mean(since >= sae.dead_after)),
        "test_fvu": logs["fvu"],
        "probe_accuracy": instruments.linear_probe_accuracy(
            train_codes, y_train, test_codes, y_test
        ),
        "fit_s": seconds,
    }
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
