"""The squared-error cost of Ng's sparse autoencoder notes."""

import keras
from keras import ops

from sparsekeras._validation import check_float


@keras.saving.register_keras_serializable(package="sparsekeras")
class SquaredErrorCost(keras.losses.Loss):
    """The cost of one example, `scale·‖x − x̂‖²`, averaged over the batch.

    With `scale = 0.5` this is the cost of UFLDL's sparse autoencoder,
    `½‖x̂ − x‖²` per example, summed over features: the cost against which
    the notes state the strengths of `WeightDecay` (λ = 3e-3) and
    `KLSparsityRegularizer` (β = 3). Keras's `"mse"` averages over
    features instead, which makes those strengths 2/784 times as strong
    on MNIST as on this cost.

    Args:
        scale: positive float, defaults to `0.5`.
        name: the loss's name, defaults to `"squared_error_cost"`.
        **kwargs: other `keras.losses.Loss` arguments, such as
            `reduction`.

    Example:

    >>> import numpy as np
    >>> from sparsekeras.losses import SquaredErrorCost
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype="float32")
    >>> x_hat = np.array([[1.0, 1.0], [0.0, 0.0]], dtype="float32")
    >>> float(SquaredErrorCost()(x, x_hat))
    0.5

    Reference:
        A. Ng, "Sparse autoencoder", CS294A lecture notes (2011), §2.2.
    """

    def __init__(self, scale=0.5, name="squared_error_cost", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = check_float("scale", scale, minimum=0, exclusive=True)

    def call(self, y_true, y_pred):
        error = ops.square(ops.convert_to_tensor(y_true) - y_pred)
        return self.scale * ops.sum(error, axis=-1)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(
    package="sparsekeras", name="squared_error"
)
def _squared_error(y_true, y_pred):
    """`SquaredErrorCost(1.0)` as a function: loads files saved by 0.1.0.

    Release 0.1.0's paper reproduction compiled its models with a function
    registered as `sparsekeras>squared_error`; this keeps those `.keras`
    files loading now that the reproduction uses `SquaredErrorCost(1.0)`.
    """
    error = ops.square(ops.convert_to_tensor(y_true) - y_pred)
    return ops.sum(error, axis=-1)
