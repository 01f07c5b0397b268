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

    Use it as an `activity_regularizer`: Keras 3.14+ divides what an
    activity regularizer returns by the batch size, so `__call__` returns
    `penalty(x)` times the batch size there (`penalty(x)` itself on older
    Keras), and exactly `penalty(x)` reaches the loss on every supported
    Keras. Call `penalty(x)` for the formula's value. It is computed in
    float32, with `rho_hat` clipped into `[EPSILON, 1 - EPSILON]` so that
    dead or saturated units give a large but finite penalty; NaN,
    infinities, empty batches and integer inputs follow the
    [shared rules][shared-rules]. The pitfalls, data parallelism and the
    reason for the batch-size factor are on the
    [KLSparsityRegularizer page][kl-sparsity-page].

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
