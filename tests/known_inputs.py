"""Inputs whose answer is known, for checking `studies.instruments`.

Filters are `(784, units)`, one per column; codes are `(samples, units)`.
Run it to print the measured values that `docs/metrics.md` quotes:

    PYTHONPATH=. python tests/known_inputs.py
"""

import numpy as np

from sparsekeras.datasets import load_mnist
from sparsekeras.studies import instruments

SIDE = 28


def noise_filters(units=50, seed=0):
    """Independent Gaussian pixels: no structure at all."""
    return np.random.default_rng(seed).normal(size=(SIDE * SIDE, units))


def blur(images):
    """A 3 x 3 mean filter on rows of 28 x 28 images (edges repeated)."""
    images = images.reshape(-1, SIDE, SIDE)
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
    out = sum(
        padded[:, dy : dy + SIDE, dx : dx + SIDE]
        for dy in range(3)
        for dx in range(3)
    )
    return (out / 9.0).reshape(len(images), -1)


def smooth_noise_filters(units=50, seed=0):
    """Gaussian noise blurred twice: smooth, but spread over the image."""
    rng = np.random.default_rng(seed)
    return blur(blur(rng.normal(size=(units, SIDE * SIDE)))).T


def stroke_filters(units=100, seed=0, width=1.0, noise=0.0):
    """Short smooth line segments, 4 to 10 pixels long, Gaussian profile."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:SIDE, 0:SIDE]
    filters = []
    for _ in range(units):
        length = rng.uniform(4, 10)
        angle = rng.uniform(0, np.pi)
        centre = rng.uniform(8, 20, size=2)
        half = length / 2 * np.array([np.sin(angle), np.cos(angle)])
        start, end = centre - half, centre + half
        along = (rows - start[0]) * (end[0] - start[0]) + (
            columns - start[1]
        ) * (end[1] - start[1])
        t = np.clip(along / length**2, 0, 1)
        distance2 = (rows - start[0] - t * (end[0] - start[0])) ** 2 + (
            columns - start[1] - t * (end[1] - start[1])
        ) ** 2
        filters.append(np.exp(-distance2 / (2 * width**2)).ravel())
    filters = np.array(filters).T
    return filters + noise * rng.normal(size=filters.shape)


def digit_templates(per_class=1, seed=0):
    """Class means of the embedded MNIST sample: whole-digit templates."""
    (images, labels), _ = load_mnist(source="embedded")
    images = images.reshape(len(images), -1) / 255.0
    rng = np.random.default_rng(seed)
    templates = []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        for part in np.array_split(members, per_class):
            templates.append(images[part].mean(axis=0))
    return np.array(templates).T


def with_surround(filters, share=0.5):
    """Each filter minus a multiple of the mean digit, an inhibitory
    surround holding about `share` of its energy (as sigmoid units without
    biases grow, to stay off on the digits they do not detect)."""
    mean_digit = digit_templates().mean(axis=1, keepdims=True)
    scale = np.sqrt(share / (1 - share)) * np.linalg.norm(filters, axis=0)
    return filters - mean_digit * scale / np.linalg.norm(mean_digit)


def digit_labels(samples=2000, seed=0):
    return np.random.default_rng(seed).integers(0, 10, size=samples)


def one_hot_codes(labels):
    """Unit `c` is 1 on digit `c` and 0 elsewhere: selectivity 1."""
    return np.eye(10)[labels]


def random_codes(samples=2000, units=50, seed=1):
    """Activations independent of the digit: selectivity about 0.1."""
    return np.random.default_rng(seed).uniform(size=(samples, units))


def sigmoid_detector_codes(labels, seed=2):
    """Sigmoid units near 0.1 that rise to 0.9 on one digit each."""
    rng = np.random.default_rng(seed)
    on = np.eye(10)[labels]
    return np.clip(0.1 + 0.8 * on + 0.05 * rng.normal(size=on.shape), 0, 1)


def saturated_sigmoid_codes(samples=2000, seed=3):
    """Units stuck at 0 or 1 (within 1e-4) beside two live units."""
    rng = np.random.default_rng(seed)
    stuck = np.array([1e-5, 1.0 - 1e-5, 0.5])
    codes = stuck + 1e-4 * rng.uniform(size=(samples, 3))
    live = rng.uniform(size=(samples, 2))
    return np.concatenate([codes, live], axis=1)


def _summary(values):
    return f"{np.min(values):.3f} .. {np.max(values):.3f}"


def main():
    filters = {
        "noise": noise_filters(),
        "smooth noise (blurred twice)": smooth_noise_filters(),
        "strokes": stroke_filters(),
        "thin strokes (width 0.7)": stroke_filters(width=0.7),
        "wide strokes (width 1.5)": stroke_filters(seed=1, width=1.5),
        "strokes + 10% noise": stroke_filters(seed=2, noise=0.1),
        "strokes + 20% noise": stroke_filters(seed=3, noise=0.2),
        "strokes, inhibitory surround 50%": with_surround(stroke_filters()),
        "strokes, inhibitory surround 70%": with_surround(
            stroke_filters(seed=4), share=0.7
        ),
        "digit templates": digit_templates(per_class=5),
        "digit templates, inhibitory surround 50%": with_surround(
            digit_templates(per_class=5)
        ),
    }
    print("| filters | smoothness | extent | excitatory extent | kinds |")
    print("| --- | --- | --- | --- | --- |")
    for name, weights in filters.items():
        smooth = instruments.filter_smoothness(weights, per_filter=True)
        extent = instruments.filter_extent(weights)
        excitatory = instruments.filter_extent(weights, part="excitatory")
        kinds, counts = np.unique(
            instruments.filter_kinds(weights), return_counts=True
        )
        listed = ", ".join(
            f"{k} {c}" for k, c in zip(kinds, counts, strict=True)
        )
        print(
            f"| {name} | {_summary(smooth)} | {_summary(extent)} "
            f"| {_summary(excitatory)} | {listed} |"
        )
    labels = digit_labels()
    codes = {
        "one-hot class codes": one_hot_codes(labels),
        "random codes": random_codes(),
        "sigmoid digit detectors": sigmoid_detector_codes(labels),
    }
    print("\n| codes | class selectivity per unit | dead fraction |")
    print("| --- | --- | --- |")
    for name, values in codes.items():
        selectivity = instruments.class_selectivity(values, labels)
        dead = instruments.dead_unit_fraction(values)
        print(f"| {name} | {_summary(selectivity)} | {dead:.2f} |")
    saturated = saturated_sigmoid_codes()
    print(
        "\nsaturated/constant sigmoid units: dead =",
        instruments.dead_units(saturated),
    )


if __name__ == "__main__":
    main()
