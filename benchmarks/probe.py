"""Accuracy and time of `studies.instruments.LinearProbe` on full MNIST.

The figures quoted in docs/metrics.md:

- raw pixels (60,000 x 784, pixels / 255), the classic logistic
  regression baseline (92.8% in the literature), with the default
  `scale_floor` and with plain standardisation (`scale_floor=0`), each
  also read on the test images blurred by a 3 x 3 mean and with uniform
  noise of amplitude 0.05 added, as a reader of reconstructions sees them;
- 50,000 x 1000 sparse codes, the size of Makhzani & Frey's table: each
  image's 75 largest responses to a fixed random projection (75 = 3k for
  k = 25), other units 0; not a trained model, only the scale.

    python -m benchmarks.probe --data ../shared/data/mnist.npz
"""

import argparse
import time

import numpy as np

from sparsekeras.studies import instruments

UNITS = 1000
KEPT = 75


def _fit(name, train, y_train, tests, y_test, **kwargs):
    start = time.perf_counter()
    probe = instruments.LinearProbe(train, y_train, **kwargs)
    seconds = time.perf_counter() - start
    accuracies = " | ".join(
        [f"{probe.accuracy(test, y_test):.2%}" for test in tests]
        + ["n/a"] * (3 - len(tests))
    )
    print(
        f"| {name} | {train.shape[0]} x {train.shape[1]} | {accuracies} "
        f"| {probe.iterations} | {probe.converged} | {seconds:.1f} |",
        flush=True,
    )


def _blur(images):
    squares = np.pad(images.reshape(-1, 28, 28), ((0, 0), (1, 1), (1, 1)))
    return (
        sum(
            squares[:, dy : dy + 28, dx : dx + 28]
            for dy in range(3)
            for dx in range(3)
        ).reshape(len(images), -1)
        / 9.0
    )


def _sparse_codes(images, projection):
    responses = images @ projection
    cut = np.partition(responses, -KEPT, axis=1)[:, -KEPT][:, None]
    return np.where(responses >= cut, responses, 0.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="full MNIST .npz")
    args = parser.parse_args()
    with np.load(args.data) as data:
        x_train = data["x_train"].reshape(-1, 784) / 255.0
        x_test = data["x_test"].reshape(-1, 784) / 255.0
        y_train, y_test = data["y_train"], data["y_test"]
    noise = np.random.default_rng(0).uniform(0, 0.05, size=x_test.shape)
    pixels = [x_test, _blur(x_test), np.clip(x_test + noise, 0, 1)]
    print(
        "| features | shape | test accuracy | blurred | + noise 0.05 "
        "| iterations | converged | s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    _fit("raw pixels", x_train, y_train, pixels, y_test)
    _fit(
        "raw pixels, `scale_floor=0`",
        x_train,
        y_train,
        pixels,
        y_test,
        scale_floor=0.0,
    )
    projection = np.random.default_rng(0).normal(size=(784, UNITS))
    _fit(
        f"top-{KEPT} of {UNITS} random projections",
        _sparse_codes(x_train[:50000], projection),
        y_train[:50000],
        [_sparse_codes(x_test, projection)],
        y_test,
    )


if __name__ == "__main__":
    main()
