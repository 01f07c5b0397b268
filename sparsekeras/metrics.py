"""Keras metrics of sparse codes: FVU, L0 and the fraction of dead units.

Stateful `keras.metrics.Metric`s, usable in `compile(metrics=...)` or by a
model's own `compute_metrics`. Their states are sums, so replicas' states
add up under a distribution strategy.
"""

import keras
from keras import ops

from sparsekeras._replicas import replica_mean

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
    The variance is accumulated about a reference row (the first row seen),
    so data far from zero (an offset of 1000, a spread of 0.01) keeps its
    float32 precision. With no variance (one row, or identical rows) the
    FVU is undefined: inf, or NaN when the error is 0 too, never 0. With
    no row seen it is 0, as for Keras's own metrics. See
    [Shared rules](semantics.md).

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
        # Sums, so that replicas' states add up, in one variable so that a
        # reset (each `train_on_batch`) is one assignment: the squared
        # error, the row count, then per column the sums of `y_true - r`
        # and of its square, for the reference row `r`.
        self.statistics = self.add_variable(
            (2 + 2 * size,), initializer="zeros", name="statistics"
        )
        # The first row seen (the same on every replica).
        self.reference = self.add_variable(
            (size,),
            initializer="zeros",
            name="reference",
            aggregation="only_first_replica",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = _rows(ops.cast(y_true, self.dtype))
        y_pred = _rows(ops.cast(y_pred, self.dtype))
        self._ensure_built(y_true)
        rows = ops.shape(y_true)[0]
        first = ops.logical_and(self.statistics[1] == 0, rows > 0)
        # The first row (zeros for an empty batch), averaged over
        # `tf.distribute` replicas, so that all of them share it.
        head = replica_mean(ops.sum(y_true[:1], axis=0))
        reference = ops.where(
            first, head, ops.convert_to_tensor(self.reference)
        )
        self.reference.assign(reference)
        centered = y_true - reference
        self.statistics.assign_add(
            ops.concatenate(
                [
                    ops.stack(
                        [
                            ops.sum(ops.square(y_true - y_pred)),
                            ops.cast(rows, self.dtype),
                        ]
                    ),
                    ops.sum(centered, axis=0),
                    ops.sum(ops.square(centered), axis=0),
                ]
            )
        )

    def result(self):
        if not self._built:
            return ops.zeros((), self.dtype)
        squared_error, count = ops.unstack(self.statistics[:2])
        sums, squares = ops.split(self.statistics[2:], 2)
        safe_count = ops.maximum(count, 1.0)
        # Per column, sum (x - mean)^2 = sum (x - r)^2 - (sum (x - r))^2 / n.
        variance = ops.sum(
            ops.maximum(squares - ops.square(sums) / safe_count, 0.0)
        )
        return ops.where(
            count > 0,
            ops.divide(squared_error, variance),
            ops.zeros((), self.dtype),
        )


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
