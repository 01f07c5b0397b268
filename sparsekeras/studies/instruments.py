"""Measurements of sparse codes, filters and reconstructions.

The original comparison of the five sparse-coding cases judged its pictures by
eye. These functions put a number on each thing it looked at, on any model's
codes and weights, as float64 NumPy so they can be checked by hand and give
the same result on every backend. Each rule, and its check on inputs whose
answer is known, is on the docs' "Instruments" page (`docs/metrics.md`).

Codes are arrays `(samples, units)`; filters are arrays `(pixels, units)`,
one filter per column as in a Dense kernel (a transposed array is refused).
Non-finite input is never hidden: a measure of a unit, filter or cost that
is NaN or infinite is NaN, and so is any summary over it; `LinearProbe`,
which fits a model, refuses such codes with a `ValueError`.
"""

import keras
import numpy as np

from sparsekeras._validation import (
    check_choice,
    check_filters,
    check_float,
    check_int,
)
from sparsekeras.studies import _lbfgs

DEAD_TOLERANCE = 0.01
STROKE_ENERGY = 0.8
# Thresholds of `filter_kinds`, set on the known inputs of docs/metrics.md:
# strokes 4 to 10 pixels long have extents 0.017 to 0.056 and smoothness
# 0.45 or more (with 10% pixel noise), class-mean digit templates extents
# 0.080 to 0.198, pixel noise smoothness below 0.05 and extents 0.28 or more.
SMOOTH_MIN = 0.3
STROKE_MAX_EXTENT = 0.07
TEMPLATE_MAX_EXTENT = 0.25


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


def dead_units(codes, *, tolerance=DEAD_TOLERANCE):
    """Marks the units whose activation barely varies over the samples.

    Unit `j` is dead when its range over the samples,
    `max_i codes[i, j] - min_i codes[i, j]`, is at most `tolerance` times
    the largest range of any unit. A unit that is exactly zero on every
    sample (a k-sparse unit that never wins), a sigmoid unit saturated at 0
    or 1 and a constant unit are dead by this one rule; the rule does not
    depend on the codes' scale. A unit with a non-finite activation is not
    dead (it is broken, see `dead_unit_fraction`).

    Args:
        codes: array of shape `(samples, units)`.
        tolerance: float in [0, 1], default 0.01.

    Returns:
        A bool array of shape `(units,)`, true for dead units.

    Example:

    >>> dead_units(np.array([[0.0, 0.9, 1.0], [0.0, 0.1, 0.999]]))
    array([ True, False,  True])
    """
    codes = _codes("codes", codes)
    tolerance = check_float("tolerance", tolerance, minimum=0.0, maximum=1.0)
    ranges = np.ptp(codes, axis=0)
    finite = np.all(np.isfinite(codes), axis=0)
    largest = np.max(ranges[finite]) if np.any(finite) else 0.0
    return finite & (ranges <= tolerance * largest)


def dead_unit_fraction(codes, *, tolerance=DEAD_TOLERANCE):
    """Fraction of units that are dead by the rule of `dead_units`.

    Args:
        codes: array of shape `(samples, units)`.
        tolerance: float in [0, 1], default 0.01, see `dead_units`.

    Returns:
        A float in [0, 1]; NaN if any code is NaN or infinite.

    Example:

    >>> dead_unit_fraction(np.array([[0.0, 1.0], [0.0, 2.0]]))
    0.5
    """
    codes = _codes("codes", codes)
    dead = dead_units(codes, tolerance=tolerance)
    if not np.all(np.isfinite(codes)):
        return float("nan")
    return float(np.mean(dead))


def class_selectivity(codes, labels):
    """Share of each unit's activation mass on its preferred class.

    Each unit's activation is measured above its own baseline, its median
    over the samples: `a[i, j] = max(codes[i, j] - median_i codes[i, j], 0)`,
    so a sigmoid unit that never reaches 0 but is "on" for one digit counts
    only its "on" part. With `m[c, j]` the mean of `a[:, j]` over the
    samples of class `c` (a mean, so class frequencies do not matter):

        selectivity[j] = max_c m[c, j] / sum_c m[c, j]

    It is 1 for a unit active on one class only and `1 / classes` (0.1 for
    digits) for a unit whose activation does not depend on the class, or
    that has no mass above its baseline. With few samples per class the
    maximum of noisy means sits a little above chance (0.11 for random
    codes and 200 samples per class).

    Args:
        codes: array of shape `(samples, units)`.
        labels: int array of shape `(samples,)`; the classes are the
            distinct labels.

    Returns:
        A float array of shape `(units,)` in `[1 / classes, 1]`; NaN for a
        unit with a non-finite activation.

    Example:

    >>> labels = np.array([0, 1, 2, 0, 1, 2])
    >>> one_hot = np.eye(3)[labels]
    >>> class_selectivity(one_hot, labels)
    array([1., 1., 1.])
    """
    codes = _codes("codes", codes)
    labels = _labels("labels", labels, len(codes))
    classes = np.unique(labels)
    finite = np.all(np.isfinite(codes), axis=0)
    codes = np.where(finite, codes, 0.0)
    above = np.maximum(codes - np.median(codes, axis=0), 0.0)
    means = np.stack([np.mean(above[labels == c], axis=0) for c in classes])
    total = np.sum(means, axis=0)
    chance = np.full(codes.shape[1], 1.0 / len(classes))
    share = np.divide(np.max(means, axis=0), total, out=chance, where=total > 0)
    return np.where(finite, share, np.nan)


def mean_class_selectivity(codes, labels, *, tolerance=DEAD_TOLERANCE):
    """Mean `class_selectivity` of the units that are not dead.

    Args:
        codes: array of shape `(samples, units)`.
        labels: int array of shape `(samples,)`.
        tolerance: the dead-unit tolerance of `dead_units`, default 0.01.

    Returns:
        A float in `[1 / classes, 1]`; NaN if any code is non-finite or
        every unit is dead.

    Example:

    >>> labels = np.array([0, 1, 0, 1])
    >>> codes = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])[labels]
    >>> mean_class_selectivity(codes, labels)
    1.0
    """
    live = ~dead_units(codes, tolerance=tolerance)
    selectivity = class_selectivity(codes, labels)
    if not np.any(live) or np.any(np.isnan(selectivity)):
        return float("nan")
    return float(np.mean(selectivity[live]))


def filter_smoothness(filters, filter_shape=(28, 28), *, per_filter=False):
    """Correlation between neighbouring pixels of each filter.

    A noise filter has neighbouring weights that are nearly independent, so
    its smoothness is near 0; a stroke or a digit template varies slowly
    across the image, so its smoothness is near 1. For each filter the
    Pearson correlation of horizontally adjacent pixels and that of
    vertically adjacent pixels are averaged; a constant filter counts as 0,
    a filter with a non-finite weight as NaN.

    Args:
        filters: array of shape `(prod(filter_shape), units)`, one filter
            per column, as in a Dense kernel or a `NeuralSparseCoding`
            dictionary.
        filter_shape: the 2-D shape of one filter.
        per_filter: bool, default `False`: return the mean over filters;
            `True`: one value per filter.

    Returns:
        A float in [-1, 1] (NaN if any filter is non-finite), or an array of
        shape `(units,)` with `per_filter=True`.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(size=(784, 20))
    >>> bool(filter_smoothness(noise) < 0.1)
    True
    >>> ramp = np.tile(np.arange(784.0)[:, None], (1, 3))
    >>> round(filter_smoothness(ramp), 3)
    1.0
    """
    images = check_filters("filters", filters, filter_shape)
    horizontal = _row_correlation(images[:, :, :-1], images[:, :, 1:])
    vertical = _row_correlation(images[:, :-1, :], images[:, 1:, :])
    smoothness = (horizontal + vertical) / 2.0
    return smoothness if per_filter else float(np.mean(smoothness))


def _row_correlation(a, b):
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    with np.errstate(invalid="ignore", over="ignore"):
        a = a - a.mean(axis=1, keepdims=True)
        b = b - b.mean(axis=1, keepdims=True)
        denominator = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
        numerator = np.sum(a * b, axis=1)
        correlation = numerator / np.where(denominator > 0, denominator, 1.0)
    correlation[denominator == 0] = 0.0
    correlation[~np.isfinite(denominator)] = np.nan
    return correlation


def filter_extent(
    filters, filter_shape=(28, 28), *, energy=STROKE_ENERGY, part="whole"
):
    """Share of the image area that holds most of each filter's energy.

    Each filter is taken relative to its background, its median weight,
    then blurred by a 3 x 3 mean (so that pixel noise does not spread the
    energy); its extent is the smallest share of pixels whose squared
    weights hold `energy` (default 80%) of the total. A short stroke has a
    small extent (0.02 to 0.06), a whole-digit template a larger one (0.08
    to 0.2), pixel noise about 0.3 or more.

    Args:
        filters: array of shape `(prod(filter_shape), units)`, one filter
            per column.
        filter_shape: the 2-D shape of one filter.
        energy: float in (0, 1], default 0.8.
        part: `"whole"` (default), or `"excitatory"`: only the weights
            above the background, the region whose ink drives the unit up
            (a stroke detector with an inhibitory surround has a local
            excitatory part).

    Returns:
        A float array of shape `(units,)` in [0, 1]: 0 for a constant
        filter (or one with no excitatory part), NaN for a filter with a
        non-finite weight.

    Example:

    >>> dot = np.zeros((28, 28))
    >>> dot[10:13, 10:13] = 1.0
    >>> filter_extent(dot.reshape(784, 1)) * 784
    array([9.])
    """
    images = check_filters("filters", filters, filter_shape)
    energy = check_float("energy", energy, minimum=0.0, maximum=1.0)
    if energy == 0.0:
        raise ValueError(
            "Invalid value for `energy`, expected a number with "
            f"0 < energy <= 1. Received: energy={energy!r}"
        )
    finite = np.all(np.isfinite(images), axis=(1, 2))
    images = np.where(finite[:, None, None], images, 0.0)
    part = check_choice("part", part, ("whole", "excitatory"))
    images = images - np.median(images, axis=(1, 2), keepdims=True)
    if part == "excitatory":
        images = np.maximum(images, 0.0)
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    height, width = images.shape[1:]
    blurred = sum(
        padded[:, dy : dy + height, dx : dx + width]
        for dy in range(3)
        for dx in range(3)
    )
    power = np.sort((blurred * blurred).reshape(len(images), -1), axis=1)
    cumulative = np.cumsum(power[:, ::-1], axis=1)
    total = cumulative[:, -1:]
    needed = np.argmax(cumulative >= energy * total, axis=1) + 1
    extent = np.where(total[:, 0] > 0, needed / (height * width), 0.0)
    return np.where(finite, extent, np.nan)


def filter_kinds(filters, filter_shape=(28, 28)):
    """Classifies each filter as a stroke, a template, noise or flat.

    With `filter_smoothness` `s`, `filter_extent` `e` of the whole filter
    and `x` of its excitatory part (`e` if it has none) of each filter:

    - `"flat"`: a constant filter;
    - `"noise"`: `s < 0.3` (rough), or `e > 0.25` (spread over more of
      the image than a digit covers, as pixel noise is);
    - `"stroke"`: `s >= 0.3` and `x <= 0.07` (smooth, and the ink that
      drives it is local: most of it in at most 7% of the image, 55 of
      784 pixels), whether or not it has an inhibitory surround;
    - `"template"`: `s >= 0.3` and `x > 0.07` (smooth, driven by ink the
      size of a whole digit);
    - `"non-finite"`: a filter with a NaN or infinite weight.

    Args:
        filters: array of shape `(prod(filter_shape), units)`, one filter
            per column.
        filter_shape: the 2-D shape of one filter.

    Returns:
        A string array of shape `(units,)`.

    Example:

    >>> line = np.zeros((28, 28))
    >>> line[13:16, 9:18] = 1.0
    >>> filter_kinds(line.reshape(784, 1))
    array(['stroke'], dtype='<U10')
    """
    smoothness = filter_smoothness(filters, filter_shape, per_filter=True)
    extent = filter_extent(filters, filter_shape)
    excitatory = filter_extent(filters, filter_shape, part="excitatory")
    local = np.where(excitatory > 0, excitatory, extent)
    kinds = np.where(local <= STROKE_MAX_EXTENT, "stroke", "template")
    rough = (smoothness < SMOOTH_MIN) | (extent > TEMPLATE_MAX_EXTENT)
    kinds = np.where(rough, "noise", kinds)
    kinds = np.where(extent == 0.0, "flat", kinds)
    return np.where(np.isnan(extent), "non-finite", kinds).astype("<U10")


def stroke_fraction(filters, filter_shape=(28, 28)):
    """Fraction of the filters that `filter_kinds` classifies as strokes.

    Args:
        filters: array of shape `(prod(filter_shape), units)`, one filter
            per column.
        filter_shape: the 2-D shape of one filter.

    Returns:
        A float in [0, 1]; NaN if any filter is non-finite.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> stroke_fraction(rng.normal(size=(784, 10)))
    0.0
    """
    kinds = filter_kinds(filters, filter_shape)
    if np.any(kinds == "non-finite"):
        return float("nan")
    return float(np.mean(kinds == "stroke"))


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
        A non-negative float; NaN if any pixel is non-finite.

    Example:

    >>> sharpness(np.zeros((2, 784)))
    0.0
    """
    images = np.asarray(images, dtype=np.float64).reshape(
        (-1,) + tuple(image_shape)
    )
    if not np.all(np.isfinite(images)):
        return float("nan")
    dx = np.diff(images, axis=2)
    dy = np.diff(images, axis=1)
    return float((np.mean(dx * dx) + np.mean(dy * dy)) / 2.0)


def convergence_epoch(costs, tolerance=0.05):
    """The first epoch whose cost is within `tolerance` of the final cost.

    The first epoch with `|cost - final| <= tolerance * |final|`, counted
    from 1 as Keras's progress bar does: relative to each run's own final
    cost, so runs whose costs differ in scale compare.

    Args:
        costs: sequence of the training cost at the end of each epoch.
        tolerance: relative distance to the final cost, default 0.05 (5%).

    Returns:
        An int in `[1, len(costs)]`; NaN if any cost is NaN or infinite (a
        diverged run has not converged).

    Example:

    >>> convergence_epoch([1.0, 0.5, 0.3, 0.2, 0.2])
    4
    """
    costs = np.asarray(costs, dtype=np.float64)
    tolerance = check_float("tolerance", tolerance, minimum=0.0)
    if costs.ndim != 1 or len(costs) == 0:
        raise ValueError(
            "Invalid value for `costs`, expected a non-empty sequence of "
            f"numbers. Received: costs={costs!r}"
        )
    if not np.all(np.isfinite(costs)):
        return float("nan")
    final = costs[-1]
    close = np.abs(costs - final) <= tolerance * np.abs(final)
    return int(np.argmax(close) + 1)


class LinearProbe:
    """Multinomial logistic regression on frozen codes, fit to convergence.

    How much of the label information a code keeps in linearly readable
    form. Each feature is centred on its mean over the training codes and
    divided by its standard deviation there, or by `scale_floor` times the
    root mean square of all features' deviations if that is larger: so
    features of any scale weigh alike, while a nearly constant one (a
    border pixel, a unit that almost never fires) is not magnified until
    faint noise on it decides the class. Then `W` and `b` minimise

        mean_i cross_entropy(softmax(x_i W + b), y_i) + l2 / 2 * ||W||^2

    with L-BFGS in float64 NumPy until no gradient entry exceeds
    `tolerance`. The objective is strictly convex in `W` (`l2 > 0`) and
    the solver starts from zero, so the result depends neither on a step
    count nor on the Keras backend. On raw pixels of full MNIST it reaches
    92.7% test accuracy (see `docs/metrics.md`).

    Args:
        codes: array of shape `(samples, units)` to fit, finite.
        labels: int array of shape `(samples,)`; the classes are the
            distinct labels.
        l2: float > 0, default 1e-4: the L2 penalty on the weights.
        tolerance: float > 0, default 1e-4: the largest gradient entry
            accepted as converged.
        max_iterations: int, default 1000. `converged` says whether the
            tolerance was reached within them.
        scale_floor: float >= 0, default 0.3, see above; 0 standardises
            every non-constant feature fully.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 2, size=200)
    >>> codes = np.eye(2)[labels] + 0.1 * rng.normal(size=(200, 2))
    >>> probe = LinearProbe(codes, labels)
    >>> probe.converged, probe.accuracy(codes, labels)
    (True, 1.0)
    """

    def __init__(
        self,
        codes,
        labels,
        *,
        l2=1e-4,
        tolerance=1e-4,
        max_iterations=1000,
        scale_floor=0.3,
    ):
        codes = _finite_codes("codes", codes)
        labels = _labels("labels", labels, len(codes))
        self.l2 = check_float("l2", l2, minimum=0.0, exclusive=True)
        self.tolerance = check_float(
            "tolerance", tolerance, minimum=0.0, exclusive=True
        )
        self.max_iterations = check_int(
            "max_iterations", max_iterations, minimum=1
        )
        self.scale_floor = check_float("scale_floor", scale_floor, minimum=0.0)
        self.mean = np.mean(codes, axis=0)
        std = np.std(codes, axis=0)
        floor = self.scale_floor * np.sqrt(np.mean(std * std))
        self.scale = np.maximum(std, floor)
        self.scale[self.scale == 0] = 1.0
        features = self._standardise(codes)
        self.classes, indices = np.unique(labels, return_inverse=True)
        units, classes = codes.shape[1], len(self.classes)
        targets = np.eye(classes)[indices]

        objective = _softmax_objective(features, targets, self.l2)
        parameters, self.iterations, self.gradient_max = _lbfgs.minimize(
            objective,
            np.zeros((units + 1) * classes),
            tolerance=self.tolerance,
            max_iterations=self.max_iterations,
        )
        self.converged = self.gradient_max <= self.tolerance
        self.weights = parameters[: units * classes].reshape(units, classes)
        self.bias = parameters[units * classes :]

    def _standardise(self, codes):
        return (codes - self.mean) / self.scale

    def predict(self, codes):
        """The predicted class of each of `codes`, an int array."""
        codes = _finite_codes("codes", codes)
        if codes.shape[1] != len(self.mean):
            raise ValueError(
                f"Invalid shape for `codes`, expected {len(self.mean)} "
                f"units as in training. Received: codes.shape={codes.shape}"
            )
        logits = self._standardise(codes) @ self.weights + self.bias
        return self.classes[np.argmax(logits, axis=1)]

    def accuracy(self, codes, labels):
        """The fraction of `codes` whose predicted class is `labels`."""
        predicted = self.predict(codes)
        labels = _labels("labels", labels, len(predicted))
        return float(np.mean(predicted == labels))


class NearestNeighbourReader:
    """Reads images as the digit of their nearest training image.

    The 1-nearest-neighbour classifier in pixel space: an image gets the
    label of the training image at the smallest Euclidean distance (the
    first one on a tie). It asks whether a reconstruction still *looks
    like* its digit: on the embedded MNIST sample it reads the test images
    at 94.3%, blurred ones (Gaussian, sigma = 1 pixel) at 93.2% and noisy
    ones (Gaussian noise, sigma = 0.3) at 94.4%, where `LinearProbe` fit
    on the same pixels drops from 88.9% to 37% on the noisy ones; shuffled
    pixels read at chance (`docs/metrics.md`).

    Args:
        images: array of shape `(samples, pixels)`, finite: the training
            images.
        labels: int array of shape `(samples,)`.

    Example:

    >>> reader = NearestNeighbourReader(np.eye(2), np.array([3, 7]))
    >>> reader.accuracy(np.array([[0.9, 0.2], [0.1, 0.4]]), [3, 7])
    1.0
    """

    CHUNK = 1000

    def __init__(self, images, labels):
        self.images = _finite_codes("images", images).astype(np.float32)
        self.labels = _labels("labels", labels, len(self.images))
        self._norms = np.sum(self.images * self.images, axis=1)

    def predict(self, images):
        """The label of each image's nearest training image."""
        images = _finite_codes("images", images).astype(np.float32)
        if images.shape[1] != self.images.shape[1]:
            raise ValueError(
                f"Invalid shape for `images`, expected "
                f"{self.images.shape[1]} pixels as in training. "
                f"Received: images.shape={images.shape}"
            )
        nearest = np.empty(len(images), dtype=np.int64)
        for start in range(0, len(images), self.CHUNK):
            chunk = images[start : start + self.CHUNK]
            # |x - t|^2 up to |x|^2, which does not change the argmin.
            distance = self._norms[None, :] - 2.0 * (chunk @ self.images.T)
            nearest[start : start + len(chunk)] = np.argmin(distance, axis=1)
        return self.labels[nearest]

    def accuracy(self, images, labels):
        """The fraction of `images` read as `labels`."""
        predicted = self.predict(images)
        labels = _labels("labels", labels, len(predicted))
        return float(np.mean(predicted == labels))


def linear_probe_accuracy(
    train_codes, train_labels, test_codes, test_labels, *, l2=1e-4
):
    """Test accuracy of a `LinearProbe` fit on the training codes.

    Args:
        train_codes: array of shape `(n_train, units)`, finite.
        train_labels: int array of shape `(n_train,)`.
        test_codes: array of shape `(n_test, units)`, finite.
        test_labels: int array of shape `(n_test,)`.
        l2: the probe's L2 penalty, default 1e-4.

    Returns:
        The test accuracy, a float in [0, 1].

    Example:

    >>> codes = np.array([[0.0], [1.0], [0.1], [0.9]])
    >>> labels = np.array([0, 1, 0, 1])
    >>> linear_probe_accuracy(codes, labels, codes, labels)
    1.0
    """
    train_codes = _finite_codes("train_codes", train_codes)
    test_codes = _finite_codes("test_codes", test_codes)
    probe = LinearProbe(train_codes, train_labels, l2=l2)
    return probe.accuracy(test_codes, test_labels)


def _softmax_objective(features, targets, l2):
    """Mean cross-entropy plus `l2 / 2 * ||W||^2`, and its gradient.

    The parameters are `W` (units x classes) then `b` (classes), flattened.
    """
    samples, units = features.shape
    classes = targets.shape[1]

    def objective(parameters):
        weights = parameters[: units * classes].reshape(units, classes)
        logits = features @ weights + parameters[units * classes :]
        logits -= np.max(logits, axis=1, keepdims=True)
        log_p = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
        residual = (np.exp(log_p) - targets) / samples
        value = -np.sum(targets * log_p) / samples
        value += 0.5 * l2 * np.sum(weights * weights)
        gradient = features.T @ residual + l2 * weights
        return value, np.concatenate([gradient.ravel(), residual.sum(axis=0)])

    return objective


def _codes(name, codes):
    codes = np.asarray(keras.ops.convert_to_numpy(codes), dtype=np.float64)
    if codes.ndim != 2 or 0 in codes.shape:
        raise ValueError(
            f"Invalid shape for `{name}`, expected (samples, units) with at "
            f"least one of each. Received: {name}.shape={codes.shape}"
        )
    return codes


def _finite_codes(name, codes):
    codes = _codes(name, codes)
    bad = np.size(codes) - np.count_nonzero(np.isfinite(codes))
    if bad:
        raise ValueError(
            f"Invalid value for `{name}`, expected finite numbers. "
            f"Received: {name} with {bad} NaN or infinite entries"
        )
    return codes


def _labels(name, labels, samples):
    labels = np.asarray(keras.ops.convert_to_numpy(labels))
    if labels.shape != (samples,) or not (
        np.issubdtype(labels.dtype, np.integer) and np.all(labels >= 0)
    ):
        raise ValueError(
            f"Invalid value for `{name}`, expected {samples} non-negative "
            f"integer class labels, one per sample. Received: {name} of "
            f"shape {labels.shape} and dtype {labels.dtype}"
        )
    return labels.astype(np.int64)
