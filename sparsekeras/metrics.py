"""Keras metrics of sparse codes: FVU, L0 and the fraction of dead units.

Stateful `keras.metrics.Metric`s, usable in `compile(metrics=...)` or by a
model's own `compute_metrics`. Their states are sums, so replicas' states
add up under a distribution strategy.
"""

import keras
from keras import ops

__all__ = ["FVU", "L0", "DeadFraction"]


def _rows(x):
    return ops.reshape(x, (-1, ops.shape(x)[-1]))


class _LastAxisMetric(keras.metrics.Metric):
    """A metric whose state has the size of the inputs' last axis.

    The state is made on the first `update_state` (or by `build`), as
    Keras's `R2Score` does, since that size is not known before.
    """

    def __init__(self, name, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._built = False

    def build(self, size):
        """Makes the state for inputs whose last axis has `size` entries."""
        self._build_state(int(size))
        self._built = True

    def _ensure_built(self, x):
        if not self._built:
            self.build(x.shape[-1])


@keras.saving.register_keras_serializable(package="sparsekeras")
class FVU(_LastAxisMetric):
    """Fraction of variance unexplained of a reconstruction.

        FVU = sum ||y_true - y_pred||^2 / sum ||y_true - mean(y_true)||^2,

    the sums over every row seen since the last reset, and the mean over
    those rows: 0 for a perfect reconstruction, 1 for predicting the mean.

    Example:

    >>> import numpy as np
    >>> from sparsekeras.metrics import FVU
    >>> metric = FVU()
    >>> x = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> metric.update_state(x, x + [[0.5, 0.0], [-0.5, 0.0]])
    >>> float(metric.result())
    0.125

    Reference:
        - [Gao et al., 2024. Scaling and evaluating sparse autoencoders](
          https://arxiv.org/abs/2406.04093)
    """

    def __init__(self, name="fvu", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def _build_state(self, size):
        # One variable, so that a reset (each `train_on_batch`) is one
        # assignment: the squared error, the sum of squares, the row count
        # and then the sum of the rows.
        self.statistics = self.add_variable(
            (3 + size,), initializer="zeros", name="statistics"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = _rows(ops.cast(y_true, self.dtype))
        y_pred = _rows(ops.cast(y_pred, self.dtype))
        self._ensure_built(y_true)
        scalars = ops.stack(
            [
                ops.sum(ops.square(y_true - y_pred)),
                ops.sum(ops.square(y_true)),
                ops.cast(ops.shape(y_true)[0], self.dtype),
            ]
        )
        self.statistics.assign_add(
            ops.concatenate([scalars, ops.sum(y_true, axis=0)])
        )

    def result(self):
        if not self._built:
            return ops.zeros((), self.dtype)
        squared_error, squared_total, count = ops.unstack(self.statistics[:3])
        total = self.statistics[3:]
        count = ops.maximum(count, 1.0)
        variance = squared_total - ops.sum(ops.square(total)) / count
        return ops.divide_no_nan(squared_error, variance)


@keras.saving.register_keras_serializable(package="sparsekeras")
class L0(keras.metrics.MeanMetricWrapper):
    """Mean number of nonzero entries per row of `y_pred`.

    `y_true` is ignored, so the metric reads a model's codes. NaN counts
    as nonzero.

    Example:

    >>> import numpy as np
    >>> from sparsekeras.metrics import L0
    >>> metric = L0()
    >>> metric.update_state(None, np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]]))
    >>> float(metric.result())
    1.5
    """

    def __init__(self, name="l0", dtype=None):
        super().__init__(fn=_nonzeros_per_row, name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_pred, y_pred, sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _nonzeros_per_row(y_true, y_pred):
    del y_true
    return ops.sum(ops.cast(ops.not_equal(y_pred, 0), "float32"), axis=-1)


@keras.saving.register_keras_serializable(package="sparsekeras")
class DeadFraction(_LastAxisMetric):
    """Fraction of units (last axis of `y_pred`) that never fired.

    A unit fires on a row where it is nonzero; the fraction counts the
    units that fired on none of the rows seen since the last reset (in
    `fit`, the epoch so far). `y_true` is ignored. For dead latents counted
    over a window of samples across epochs, see `SparseAutoencoder`'s
    `dead_after`.

    Example:

    >>> import numpy as np
    >>> from sparsekeras.metrics import DeadFraction
    >>> metric = DeadFraction()
    >>> metric.update_state(None, np.array([[0.0, 1.0, 0.0, 0.0],
    ...                                     [0.0, 2.0, 3.0, 0.0]]))
    >>> float(metric.result())
    0.5
    """

    def __init__(self, name="dead_fraction", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def _build_state(self, size):
        self.fired = self.add_variable(
            (size,), initializer="zeros", name="fired"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _rows(y_pred)
        self._ensure_built(y_pred)
        nonzero = ops.cast(ops.not_equal(y_pred, 0), self.dtype)
        self.fired.assign_add(ops.sum(nonzero, axis=0))

    def result(self):
        if not self._built:
            return ops.zeros((), self.dtype)
        return ops.mean(ops.cast(ops.equal(self.fired, 0), self.dtype))

    def reset_state(self):
        for variable in self.variables:
            variable.assign(ops.zeros(variable.shape, variable.dtype))
