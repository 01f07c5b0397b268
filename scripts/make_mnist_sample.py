"""Writes the MNIST sample that is embedded in sparsekeras.

The sample holds real MNIST images, stratified by class: 900 training images
of each digit drawn from MNIST's training set and 200 test images of each
digit drawn from MNIST's test set, shuffled so that any slice of it is
balanced too. The draw uses a fixed seed and the archive is written with
fixed timestamps, so running the script again gives the same file.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, under
CC BY-SA 3.0 (see `sparsekeras/datasets/MNIST_LICENSE.md`).

Usage, from the project's root:

    python scripts/make_mnist_sample.py \
        --source ../shared/data/mnist.npz \
        [--output sparsekeras/datasets/mnist_sample.npz]
"""

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "sparsekeras" / "datasets" / "mnist_sample.npz"
TRAIN_PER_CLASS = 900
TEST_PER_CLASS = 200
SEED = 0
NUM_CLASSES = 10
# A fixed timestamp (the earliest a zip can hold) makes the bytes reproducible.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def stratified_indices(labels, per_class, rng):
    """Draws `per_class` indices of each class without replacement, shuffled.

    Args:
        labels: int array of shape `(samples,)` with values in 0..9.
        per_class: how many indices to draw of each class.
        rng: a `numpy.random.Generator`.

    Returns:
        An int array of shape `(10 * per_class,)`.
    """
    chosen = [
        rng.choice(np.flatnonzero(labels == digit), per_class, replace=False)
        for digit in range(NUM_CLASSES)
    ]
    return rng.permutation(np.concatenate(chosen))


def make_sample(
    full,
    train_per_class=TRAIN_PER_CLASS,
    test_per_class=TEST_PER_CLASS,
    seed=SEED,
):
    """Draws the stratified sample from the full MNIST arrays.

    Args:
        full: mapping with `x_train`, `y_train`, `x_test` and `y_test`.
        train_per_class: training images of each digit.
        test_per_class: test images of each digit.
        seed: seed of the draw.

    Returns:
        A dict with the same four keys, holding the sample.
    """
    rng = np.random.default_rng(seed)
    train = stratified_indices(full["y_train"], train_per_class, rng)
    test = stratified_indices(full["y_test"], test_per_class, rng)
    return {
        "x_train": full["x_train"][train],
        "y_train": full["y_train"][train],
        "x_test": full["x_test"][test],
        "y_test": full["y_test"][test],
    }


def write_npz(path, arrays):
    """Writes `arrays` as a compressed `.npz` whose bytes depend only on them.

    `numpy.savez_compressed` stamps each member with the current time; this
    writes the same archive layout with a fixed timestamp instead.

    Args:
        path: the file to write.
        arrays: dict of name to numpy array.
    """
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            archive.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE_TIME),
                buffer.getvalue(),
                compress_type=zipfile.ZIP_DEFLATED,
                compresslevel=9,
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, required=True, help="full MNIST .npz"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    with np.load(args.source, allow_pickle=False) as full:
        sample = make_sample(full)
    write_npz(args.output, sample)
    print(
        f"Wrote {args.output}: {len(sample['y_train'])} train and "
        f"{len(sample['y_test'])} test images, "
        f"{args.output.stat().st_size} bytes."
    )


if __name__ == "__main__":
    main()
