"""Gradients on any backend, through Keras's own training step."""

import warnings

import keras
import numpy as np
from keras import ops


class _Offset(keras.layers.Layer):
    """Adds a zero-initialised trainable copy of the input batch."""

    def __init__(self, batch_shape, **kwargs):
        super().__init__(**kwargs)
        self.batch_shape = batch_shape

    def build(self, input_shape):
        self.offset = self.add_weight(
            name="offset",
            shape=self.batch_shape,
            initializer="zeros",
            autocast=False,
        )

    def call(self, inputs):
        return inputs + self.offset


class _Apply(keras.layers.Layer):
    def __init__(self, function, **kwargs):
        super().__init__(**kwargs)
        self.function = function

    def call(self, inputs):
        total = ops.sum(ops.cast(self.function(inputs), "float32"))
        # A zero that depends on the inputs: where `function` blocks every
        # gradient, the gradient is 0 rather than Keras's "No gradients
        # provided" error.
        finite = ops.where(ops.isfinite(inputs), inputs, 0.0)
        total = total + 0.0 * ops.sum(ops.cast(finite, "float32"))
        # The total as the first of one value per row, as `fit` expects.
        first = ops.arange(ops.shape(inputs)[0]) == 0
        return ops.where(first, total, 0.0)


class _Total(keras.losses.Loss):
    def call(self, y_true, y_pred):
        return y_pred


def gradient_of_sum(function, inputs):
    """Returns `d sum(function(x)) / dx` at `x = inputs`, in training mode.

    The gradient comes from one step of `model.fit` with plain SGD at rate
    1 on a zero offset added to `inputs`, so it is computed by the
    backend's own autodiff (TensorFlow, JAX or PyTorch) through the public
    Keras API only. Layers called by `function` see `training=True`, as in
    `fit`; a layer's trainable weights move by one SGD step.

    Args:
        function: a callable from a float32 tensor of the shape of `inputs`
            to a tensor, e.g. a layer.
        inputs: a float32-convertible numpy array with at least one row.

    Returns:
        A float32 numpy array of the shape of `inputs`.

    Example:

    >>> import numpy as np
    >>> from sparsekeras.layers import KSparse
    >>> from sparsekeras.testing import gradient_of_sum
    >>> gradient_of_sum(KSparse(1), np.array([[1.0, 3.0, 2.0]]))
    array([[0., 1., 0.]], dtype=float32)
    """
    x = np.asarray(inputs, dtype="float32")
    offset = _Offset(x.shape)
    model_inputs = keras.Input(x.shape[1:], batch_size=len(x))
    total = _Apply(function)(offset(model_inputs))
    model = keras.Model(model_inputs, total)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=1.0),
        loss=_Total(reduction="sum"),
        run_eagerly=True,
    )
    with warnings.catch_warnings():
        # A zero-row input or a NaN loss is the caller's business.
        warnings.simplefilter("ignore")
        model.fit(
            x,
            np.zeros((len(x),), dtype="float32"),
            batch_size=len(x),
            epochs=1,
            shuffle=False,
            verbose=0,
        )
    return 0.0 - ops.convert_to_numpy(offset.offset)
