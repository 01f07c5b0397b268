"""Which pixel reader can say a reconstruction is still recognisable.

The comparison's fourth observation is that (c)'s reconstructions are
"blurrier but recognisable". A reader fit on the original training images
reads the test images after changes a person still reads without trouble
(Gaussian blur, pixel noise) and after ones nobody can read (pixels
shuffled, every image replaced by the mean image). A reader fit for that
job must hold up on the first and fall to chance on the second. Printed as
the Markdown table quoted in docs/metrics.md:

    python -m benchmarks.reader [--data ../shared/data/mnist.npz]

Without `--data` it reads the embedded sample (9,000 training and 2,000
test images); with it, the first 10,000 training images and all 10,000
test images, as the `original` preset does.
"""

import argparse

import numpy as np

from sparsekeras.datasets import load_mnist
from sparsekeras.studies import instruments


def _blur(images, sigma):
    """Gaussian blur of `(n, 784)` images, separable, in NumPy."""
    radius = int(np.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    grid = images.reshape(-1, 28, 28)
    padded = np.pad(grid, ((0, 0), (radius, radius), (0, 0)))
    grid = sum(w * padded[:, i : i + 28] for i, w in enumerate(kernel))
    padded = np.pad(grid, ((0, 0), (0, 0), (radius, radius)))
    grid = sum(w * padded[:, :, i : i + 28] for i, w in enumerate(kernel))
    return grid.reshape(len(images), -1)


def changed_images(x_train, x_test, seed=0):
    """The test images, changed in ways a person can and cannot read."""
    rng = np.random.default_rng(seed)
    return {
        "originals": x_test,
        "Gaussian blur, sigma 1": _blur(x_test, 1.0),
        "Gaussian blur, sigma 2": _blur(x_test, 2.0),
        "+ Gaussian noise, sigma 0.3, clipped to [0, 1]": np.clip(
            x_test + rng.normal(0.0, 0.3, x_test.shape), 0.0, 1.0
        ),
        "pixels shuffled (one permutation)": x_test[
            :, rng.permutation(x_test.shape[1])
        ],
        "the mean training image": np.tile(
            x_train.mean(axis=0), (len(x_test), 1)
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None)
    args = parser.parse_args(argv)
    if args.data is None:
        mnist = load_mnist(source="embedded")
    else:
        mnist = load_mnist(args.data, source="path")
    (x_train, y_train), (x_test, y_test) = mnist
    x_train = x_train[:10_000].reshape(-1, 784).astype("float32") / 255.0
    y_train = y_train[:10_000]
    x_test = x_test.reshape(-1, 784).astype("float32") / 255.0
    readers = {
        "nearest neighbour": instruments.NearestNeighbourReader(
            x_train, y_train
        ),
        "linear probe": instruments.LinearProbe(x_train, y_train),
    }
    print(f"{mnist.description}: {len(x_train)} training images read")
    print("| test images | " + " | ".join(readers) + " |")
    print("| --- " * (len(readers) + 1) + "|")
    for name, images in changed_images(x_train, x_test).items():
        cells = [f"{r.accuracy(images, y_test):.1%}" for r in readers.values()]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
