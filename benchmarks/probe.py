"""Accuracy and time of `sparsekeras.metrics.LinearProbe` on full MNIST.

Two fits, the figures quoted in docs/metrics.md:

- raw pixels (60,000 x 784, pixels / 255), the classic logistic
  regression baseline (92.8% in the literature);
- 50,000 x 1000 sparse codes, the size of Makhzani & Frey's table: each
  image's 75 largest responses to a fixed random projection (75 = 3k for
  k = 25), other units 0; not a trained model, only the scale.

    python -m benchmarks.probe --data ../shared/data/mnist.npz
"""

import argparse
import time

import numpy as np

from sparsekeras import metrics

UNITS = 1000
KEPT = 75


def _fit(name, train, y_train, test, y_test):
    start = time.perf_counter()
    probe = metrics.LinearProbe(train, y_train)
    seconds = time.perf_counter() - start
    accuracy = probe.accuracy(test, y_test)
    print(
        f"| {name} | {train.shape[0]} x {train.shape[1]} | {accuracy:.2%} "
        f"| {probe.iterations} | {probe.converged} | {seconds:.1f} |",
        flush=True,
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
    print("| features | shape | test accuracy | iterations | converged | s |")
    print("| --- | --- | --- | --- | --- | --- |")
    _fit("raw pixels", x_train, y_train, x_test, y_test)
    projection = np.random.default_rng(0).normal(size=(784, UNITS))
    _fit(
        f"top-{KEPT} of {UNITS} random projections",
        _sparse_codes(x_train[:50000], projection),
        y_train[:50000],
        _sparse_codes(x_test, projection),
        y_test,
    )


if __name__ == "__main__":
    main()
