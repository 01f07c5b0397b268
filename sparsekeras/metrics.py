"""Measurements of sparse codes, filters and reconstructions.

The original comparison of the five sparse-coding cases judged its pictures by
eye. These functions put a number on each thing it looked at, on any model's
codes and weights, as plain numpy so they can be checked by hand.
"""

import keras
import numpy as np

from sparsekeras.sparse_metrics import FVU, L0, DeadFraction  # noqa: F401

PROBE_BATCH_SIZE = 256


def active_units(codes, threshold=0.0):
    """Counts the active units of each code.

    A unit is active when `|code| > threshold`: `threshold=0` counts the
    nonzeros of a k-sparse or ReLU code; for sigmoid units, which are never
    exactly zero, pass a threshold such as 0.5 (closer to 1 than to 0).

    Args:
        codes: array of shape `(samples, units)`.
        threshold: non-negative float, default 0.

    Returns:
        An int array of shape `(samples,)`: the L0 count of each code.

    Example:

    >>> active_units(np.array([[0.0, 2.0, -1.0], [0.0, 0.0, 0.3]]))
    array([2, 1])
    """
    return np.sum(np.abs(codes) > threshold, axis=-1)


def dead_unit_fraction(codes, threshold=0.0):
    """Fraction of units never active on any of the given codes.

    Args:
        codes: array of shape `(samples, units)`.
        threshold: the activity threshold of `active_units`.

    Returns:
        A float in [0, 1].

    Example:

    >>> dead_unit_fraction(np.array([[0.0, 1.0], [0.0, 2.0]]))
    0.5
    """
    ever_active = np.any(np.abs(codes) > threshold, axis=0)
    return float(1.0 - np.mean(ever_active))


def filter_smoothness(filters, filter_shape=(28, 28)):
    """Mean correlation between neighbouring pixels of each filter.

    A filter that is not specific to the data (the noise-like filters of a
    plain autoencoder) has neighbouring weights that are nearly independent,
    so its smoothness is near 0; a stroke-like filter varies slowly across
    the image, so its smoothness is near 1. For each filter the Pearson
    correlation of horizontally adjacent pixels and that of vertically
    adjacent pixels are averaged; constant filters count as 0.

    Args:
        filters: array of shape `(prod(filter_shape), n_filters)`, one filter
            per column, as in a Dense kernel or a `NeuralSparseCoding`
            dictionary.
        filter_shape: the 2-D shape of one filter.

    Returns:
        A float in [-1, 1]: the mean over filters.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(size=(784, 20))
    >>> bool(filter_smoothness(noise) < 0.1)
    True
    >>> ramp = np.tile(np.arange(784.0)[:, None], (1, 3))
    >>> round(filter_smoothness(ramp), 3)
    1.0
    """
    images = np.asarray(filters, dtype=np.float64).T.reshape(
        (-1,) + tuple(filter_shape)
    )
    horizontal = _row_correlation(images[:, :, :-1], images[:, :, 1:])
    vertical = _row_correlation(images[:, :-1, :], images[:, 1:, :])
    return float(np.mean((horizontal + vertical) / 2.0))


def _row_correlation(a, b):
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
    numerator = np.sum(a * b, axis=1)
    return np.divide(
        numerator,
        denominator,
        out=np.zeros_like(numerator),
        where=denominator > 0,
    )


def sharpness(images, image_shape=(28, 28)):
    """Mean squared image gradient: high for sharp images, low for blurry.

    The finite-difference gradient energy, averaged over pixels and images.
    A reconstruction blurrier than another of the same images has a lower
    sharpness; dividing by the originals' sharpness gives a ratio that is 1
    for a perfect reconstruction.

    Args:
        images: array of shape `(n, prod(image_shape))` or `(n,) +
            image_shape`.
        image_shape: the 2-D shape of one image.

    Returns:
        A non-negative float.

    Example:

    >>> sharpness(np.zeros((2, 784)))
    0.0
    """
    images = np.asarray(images, dtype=np.float64).reshape(
        (-1,) + tuple(image_shape)
    )
    dx = np.diff(images, axis=2)
    dy = np.diff(images, axis=1)
    return float((np.mean(dx * dx) + np.mean(dy * dy)) / 2.0)


def convergence_epoch(costs, tolerance=0.05):
    """The first epoch whose cost is within `tolerance` of the final cost.

    Epochs are counted from 1, as Keras's progress bar does.

    Args:
        costs: sequence of the training cost at the end of each epoch.
        tolerance: relative distance to the final cost, default 0.05 (5%).

    Returns:
        An int in `[1, len(costs)]`.

    Example:

    >>> convergence_epoch([1.0, 0.5, 0.3, 0.2, 0.2])
    4
    """
    costs = np.asarray(costs, dtype=np.float64)
    if costs.ndim != 1 or len(costs) == 0:
        raise ValueError(
            "Invalid value for `costs`, expected a non-empty sequence of "
            f"numbers. Received: costs={costs!r}"
        )
    final = costs[-1]
    close = np.abs(costs - final) <= tolerance * np.abs(final)
    return int(np.argmax(close) + 1)


class LinearProbe:
    """A softmax classifier trained on frozen codes.

    One `Dense(classes, activation="softmax")` layer, trained with Adam: how
    much of the label information a code keeps in linearly readable form.
    Codes are divided by one scalar, their standard deviation on the
    training set, since the codes of different models differ in scale by
    orders of magnitude; that changes nothing a linear classifier can read.

    Args:
        codes: array of shape `(samples, units)` to train on.
        labels: int array of shape `(samples,)`.
        epochs: training epochs, default 20.
        seed: seed of the initialisation and the shuffling.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 2, size=2000)
    >>> codes = np.eye(2)[labels] + 0.1 * rng.normal(size=(2000, 2))
    >>> probe = LinearProbe(codes, labels, epochs=10)
    >>> probe.accuracy(codes, labels) > 0.95
    True
    """

    def __init__(self, codes, labels, *, epochs=20, seed=0):
        keras.utils.set_random_seed(seed)
        std = float(np.std(codes))
        self.scale = std if std > 0 else 1.0
        self.model = keras.Sequential(
            [
                keras.Input(shape=(codes.shape[-1],)),
                keras.layers.Dense(
                    int(np.max(labels)) + 1, activation="softmax"
                ),
            ]
        )
        self.model.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        self.model.fit(
            codes / self.scale,
            labels,
            epochs=epochs,
            batch_size=PROBE_BATCH_SIZE,
            verbose=0,
        )

    def accuracy(self, codes, labels):
        """The fraction of `codes` whose predicted class is `labels`."""
        predicted = self.model.predict(
            codes / self.scale, batch_size=1024, verbose=0
        )
        return float(np.mean(np.argmax(predicted, axis=-1) == labels))


def linear_probe_accuracy(
    train_codes, train_labels, test_codes, test_labels, *, epochs=20, seed=0
):
    """Test accuracy of a `LinearProbe` trained on the training codes.

    Args:
        train_codes: array of shape `(n_train, units)`.
        train_labels: int array of shape `(n_train,)`.
        test_codes: array of shape `(n_test, units)`.
        test_labels: int array of shape `(n_test,)`.
        epochs: training epochs of the probe, default 20.
        seed: seed of the probe's initialisation and shuffling.

    Returns:
        The test accuracy, a float in [0, 1].
    """
    probe = LinearProbe(train_codes, train_labels, epochs=epochs, seed=seed)
    return probe.accuracy(test_codes, test_labels)
