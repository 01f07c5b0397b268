"""The weight decay term of Ng's sparse autoencoder notes."""

import keras
from keras import ops

from sparsekeras._validation import check_float


@keras.saving.register_keras_serializable(package="sparsekeras")
class WeightDecay(keras.regularizers.Regularizer):
    """Penalizes the squared weights, in the UFLDL convention.

    The penalty on a weight tensor `W` is `(strength / 2) * sum(W ** 2)`, the
    weight decay term of Ng's sparse autoencoder cost. Keras's `L2(l2)` is
    `l2 * sum(W ** 2)`, without the half, so `WeightDecay(s)` is exactly
    `keras.regularizers.L2(s / 2)`: this class only spares you the factor
    of two when you take `strength` (Ng's `lambda`) from the notes.

    Like `L2`, it is computed in the dtype of the weights it is given: under
    a mixed precision policy Keras keeps variables, and so this penalty, in
    float32. Integer and bool tensors are cast to float32 first, so that
    `strength / 2` is not truncated and the squares do not overflow. Any
    shape will do, an empty tensor giving 0. A NaN weight gives a NaN
    penalty, and an infinite one an infinite penalty (NaN if `strength` is
    0). Keras never divides a weight regularizer by the batch size, so it
    reaches the loss unchanged on every Keras version.

    Args:
        strength: float `>= 0`, Ng's weight decay parameter `lambda`.
            Defaults to `3e-3`.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from sparsekeras.regularizers import WeightDecay
    >>> kernel = np.array([[1.0, -2.0], [0.5, 0.0]], dtype="float32")
    >>> round(float(WeightDecay(strength=0.1)(kernel)), 4)
    0.2625
    >>> round(float(keras.regularizers.L2(0.05)(kernel)), 4)
    0.2625

    Reference:
        Andrew Ng, "Sparse autoencoder", CS294A Lecture notes, Stanford
        University, 2011 (section "Backpropagation algorithm", the weight
        decay term); the UFLDL tutorial's page "Backpropagation Algorithm":
        http://ufldl.stanford.edu/wiki/index.php/Backpropagation_Algorithm
    """

    def __init__(self, strength=3e-3):
        self.strength = check_float("strength", strength, minimum=0.0)

    def __call__(self, x):
        """Returns `(strength / 2) * sum(x ** 2)`.

        Args:
            x: a weight tensor.

        Returns:
            A scalar tensor of `x`'s dtype, float32 if `x` is an integer or
            bool tensor.
        """
        x = ops.convert_to_tensor(x)
        if not keras.backend.is_float_dtype(x.dtype):
            x = ops.cast(x, "float32")
        return ops.cast(self.strength / 2, dtype=x.dtype) * ops.sum(
            ops.square(x)
        )

    def get_config(self):
        return {"strength": self.strength}
