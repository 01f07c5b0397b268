"""The KL-divergence sparsity penalty of Ng's sparse autoencoder notes."""

import keras
from keras import ops

from sparsekeras._activity import KERAS_DIVIDES_ACTIVITY_LOSSES
from sparsekeras._replicas import rows_per_replica
from sparsekeras._validation import check_float

EPSILON = 1e-7
"""Mean activations are clipped into `[EPSILON, 1 - EPSILON]` before the log.

Far below 1 / batch size for any realistic batch, and still a float32 step
away from 1 (`1 - 1e-7` rounds to `1 - 2**-23` in float32), so `1 - rho_hat`
never reaches 0.
"""

BOUND = 2.0**100
"""Activations are clipped into `[-BOUND, BOUND]` before they are averaged.

No realistic activation comes near it, yet a batch of fewer than `2**27`
rows of such values sums without overflowing float32 (nor meets `+inf` and
`-inf` in one unit), so even infinite activations give a finite penalty.
"""


def _mean_over_rows(x):
    """The mean of `x` over every axis but the last, and whether it has rows.

    Both are taken over the global batch. On TensorFlow, under a
    `tf.distribute` strategy, each replica sees only its share of the rows,
    and the KL of a mean is not the mean of the replicas' KLs, so the sums
    are all-reduced across replicas (`ops.moments(synchronized=True)`, as
    `BatchNormalization(synchronized=True)` does; a no-op with no strategy).
    The all-reduce's gradient sums the replicas' gradients, so with Keras
    dividing each replica's share of `model.losses` by the number of
    replicas, the gradient is that of the global penalty, even when the
    replicas' batches differ in size. JAX's `DataParallel` traces the step
    on the global batch, so there `x` already holds every row.
    """
    axes = tuple(range(len(x.shape) - 1))
    if keras.backend.backend() == "tensorflow":
        mean, _ = ops.moments(x, axes, synchronized=True)
        return mean, rows_per_replica(x) > 0
    # A count per unit, not one scalar: XLA turns a division by a scalar
    # into a multiplication by its (inexact) reciprocal.
    count = ops.sum(ops.ones_like(x), axis=axes)
    return ops.divide_no_nan(ops.sum(x, axis=axes), count), count > 0


@keras.saving.register_keras_serializable(package="sparsekeras")
class KLSparsityRegularizer(keras.regularizers.Regularizer):
    """Penalizes mean activations that stray from a target sparsity `rho`.

    For activations in `[0, 1]` (a sigmoid layer's output), the mean
    activation of unit `j` over the batch (and over every axis but the last)
    is `rho_hat_j`, and the penalty is

    `beta * sum_j KL(rho || rho_hat_j)`, with
    `KL(rho || rho_hat) = rho * log(rho / rho_hat)
    + (1 - rho) * log((1 - rho) / (1 - rho_hat))`,

    the Kullback-Leibler divergence between Bernoulli variables of means
    `rho` and `rho_hat`. It is 0 when every unit's mean activation equals
    `rho` and grows without bound as a mean activation nears 0 or 1.

    The penalty is computed in float32 whatever the activations' dtype, so
    it is the same under the `mixed_float16` and `mixed_bfloat16` policies.
    `rho_hat` is clipped into `[EPSILON, 1 - EPSILON]` (`EPSILON = 1e-7`), so
    dead or saturated units (means of exactly 0 or 1) give a large but finite
    penalty and finite gradients (zero for a clipped unit). Round-off can
    leave a unit's KL a hair below 0 when `rho_hat` is within a few float32
    steps of `rho`; it is clamped at 0 so the penalty is never negative. An
    empty batch has no mean activation and contributes 0.

    Integer and bool activations are cast to float32. Every axis but the
    last is averaged over, so a rank-1 input is a single row of units and a
    scalar a single unit. Activations that are not probabilities are
    allowed: their means are clipped like any other, and infinite ones
    count as `±BOUND` (`2**100`), so the penalty stays finite. NaN in, NaN
    out: a NaN activation makes the penalty NaN, so a diverged layer shows
    in the loss instead of hiding behind a finite penalty.

    Pitfall: use it as an `activity_regularizer`. Keras 3.14 and later
    divide whatever an activity regularizer returns by the batch size before
    adding it to the loss (`Layer.__call__`, keras PR 22021); 3.13 and
    earlier do not. The KL penalty is already a per-batch mean, so that
    division would shrink it as the batch grows. `__call__`, the hook Keras
    calls, therefore returns `penalty(x)` times the batch size on Keras 3.14+
    and `penalty(x)` itself on older versions (decided once, from
    `keras.version()`), and the amount that reaches `model.losses` and the
    training loss is exactly `penalty(x)` on every Keras this package
    supports. Call `penalty(x)` yourself for the formula's value; as a
    `kernel_regularizer`, whose value Keras never divides, it would be
    scaled by the kernel's first dimension.

    Under data parallelism the penalty is that of the global batch, not an
    average of the replicas' penalties (which would differ, the KL being
    nonlinear in `rho_hat`): with `tf.distribute`, `rho_hat` is all-reduced
    across replicas, so training matches one device on the same global
    batches as long as every replica gets at least one row; JAX's
    `keras.distribution.DataParallel` computes it on the global batch.

    Args:
        rho: float in `(0, 1)`, the target mean activation of every unit.
            Defaults to `0.05`.
        beta: float `>= 0`, the weight of the penalty. Defaults to `3.0`.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from sparsekeras.regularizers import KLSparsityRegularizer
    >>> regularizer = KLSparsityRegularizer(rho=0.1, beta=3.0)
    >>> activations = np.array([[0.1, 0.5], [0.1, 0.5]], dtype="float32")
    >>> round(float(regularizer.penalty(activations)), 4)
    1.1042
    >>> layer = keras.layers.Dense(
    ...     2,
    ...     activation="sigmoid",
    ...     kernel_initializer="zeros",
    ...     activity_regularizer=regularizer,
    ... )
    >>> outputs = layer(np.ones((5, 3), dtype="float32"))
    >>> round(float(keras.ops.convert_to_numpy(layer.losses[0])), 4)
    2.2084

    Every unit of that layer outputs 0.5, so each adds `3 * KL(0.1 || 0.5)`,
    whatever the batch size.

    Reference:
        Andrew Ng, "Sparse autoencoder", CS294A Lecture notes, Stanford
        University, 2011 (section "Autoencoders and sparsity"); the UFLDL
        tutorial's page of the same name:
        http://ufldl.stanford.edu/wiki/index.php/Autoencoders_and_Sparsity
    """

    def __init__(self, rho=0.05, beta=3.0):
        self.rho = check_float(
            "rho", rho, minimum=0.0, maximum=1.0, exclusive=True
        )
        self.beta = check_float("beta", beta, minimum=0.0)

    def penalty(self, x):
        """Returns `beta * sum_j KL(rho || rho_hat_j)` for activations `x`.

        Args:
            x: activations in `[0, 1]`, of shape `(batch, ..., units)`; every
                axis but the last is averaged over.

        Returns:
            A float32 scalar tensor, `>= 0`; finite unless `x` holds NaN.
        """
        x = ops.clip(ops.cast(x, "float32"), -BOUND, BOUND)
        rho_hat, has_rows = _mean_over_rows(x)
        rho_hat = ops.clip(rho_hat, EPSILON, 1.0 - EPSILON)
        rho = ops.convert_to_tensor(self.rho, dtype="float32")
        kl = rho * ops.log(rho / rho_hat) + (1.0 - rho) * ops.log(
            (1.0 - rho) / (1.0 - rho_hat)
        )
        kl = ops.where(has_rows, ops.maximum(kl, 0.0), 0.0)
        return self.beta * ops.sum(kl)

    def __call__(self, x):
        """Returns the value that makes Keras add exactly `penalty(x)`.

        Args:
            x: a layer's output, as Keras passes it to its
                `activity_regularizer`.

        Returns:
            A float32 scalar tensor: `penalty(x)` times the batch size on
            Keras 3.14+ (which divides by it again), else `penalty(x)`.
        """
        penalty = self.penalty(x)
        if KERAS_DIVIDES_ACTIVITY_LOSSES and len(x.shape) > 0:
            penalty = penalty * ops.cast(ops.shape(x)[0], "float32")
        return penalty

    def get_config(self):
        return {"rho": self.rho, "beta": self.beta}
