"""A Dense layer fed k-sparse rows as `(values, indices)`."""

import keras
from keras import ops

from sparsekeras._validation import check_bool, check_int
from sparsekeras.layers._sparse_rows import (
    check_pair_of_shapes,
    gather_matmul,
    pair_of_shapes,
)


@keras.saving.register_keras_serializable(package="sparsekeras")
class SparseDense(keras.layers.Layer):
    """A `Dense` layer whose input rows are given by their nonzero entries.

    A k-sparse row `x` of length `input_dim` is given as `values` and
    `indices`, `x[indices_j] = values_j` and zero elsewhere, as
    `KSparse(..., return_indices=True)` returns it. The layer computes

        y = activation(sum_j values_j * kernel[indices_j] + bias),

    which is `Dense(units)` applied to `x`, by gathering the `width` rows
    of `kernel` that the row uses and contracting them with `values`. The
    dense `x` is never made: a batch costs `batch * width * units`
    multiply-adds instead of `batch * input_dim * units`, the saving of a
    sparse autoencoder's decoder when `width` is far below `input_dim`.
    Gradients flow to `values` and to the gathered rows of `kernel`; a
    repeated index adds its values, as the scatter of `x` would.

    Indices must lie in `[0, input_dim)`; as for `keras.ops.take`, a
    negative one counts from the end, and what a larger one does is the
    backend's (TensorFlow and PyTorch raise on a CPU, JAX gives NaN).

    Args:
        units: positive integer, the size of the output.
        input_dim: positive integer, the size of the dense rows that
            `values` and `indices` stand for (the `units` of the layer
            before `KSparse`). The kernel has shape `(input_dim, units)`.
        activation: activation function, defaults to `None` (linear).
        use_bias: bool, defaults to `True`. Whether to add a bias vector.
        kernel_initializer: initializer for the kernel, defaults to
            `"glorot_uniform"`, `Dense`'s.
        bias_initializer: initializer for the bias, defaults to `"zeros"`.
        kernel_regularizer: regularizer for the kernel, defaults to `None`.
        bias_regularizer: regularizer for the bias, defaults to `None`.
        kernel_constraint: constraint for the kernel, defaults to `None`.
        bias_constraint: constraint for the bias, defaults to `None`.
        **kwargs: base layer keyword arguments, such as `name`, `dtype` and
            `activity_regularizer`.

    Input shape:
        A pair `(values, indices)` of tensors of the same shape
        `(batch_size, ..., width)`, rank >= 2: floating values, integer
        indices.

    Output shape:
        `(batch_size, ..., units)`.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from sparsekeras.layers import KSparse, SparseDense
    >>> x = np.array([[0.5, 2.0, 1.0, 1.5]], dtype="float32")
    >>> values, indices = KSparse(k=2, return_indices=True)(x)
    >>> decoder = SparseDense(3, input_dim=4, kernel_initializer="ones")
    >>> keras.ops.convert_to_numpy(decoder((values, indices)))
    array([[3.5, 3.5, 3.5]], dtype=float32)

    The same as `Dense` on the dense k-sparse rows, with the same kernel:

    >>> dense = keras.layers.Dense(3, kernel_initializer="ones")
    >>> keras.ops.convert_to_numpy(dense(KSparse(k=2)(x)))
    array([[3.5, 3.5, 3.5]], dtype=float32)

    In a k-sparse autoencoder the decoder takes the encoder's pair:

    >>> inputs = keras.Input((8,))
    >>> codes = keras.layers.Dense(64)(inputs)
    >>> sparse = KSparse(k=4, return_indices=True)(codes)
    >>> outputs = SparseDense(8, input_dim=64)(sparse)
    >>> keras.Model(inputs, outputs).output_shape
    (None, 8)

    Reference:
        - [Makhzani & Frey, 2013. k-Sparse Autoencoders](
          https://arxiv.org/abs/1312.5663)
    """

    def __init__(
        self,
        units,
        *,
        input_dim,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_int("units", units, minimum=1)
        self.input_dim = check_int("input_dim", input_dim, minimum=1)
        self.activation = keras.activations.get(activation)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        values_shape, indices_shape = pair_of_shapes(input_shape, "SparseDense")
        check_pair_of_shapes(values_shape, indices_shape, "SparseDense")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.input_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def call(self, inputs):
        values, indices = inputs
        outputs = gather_matmul(values, indices, self.kernel, "SparseDense")
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        values_shape, _ = pair_of_shapes(input_shape, "SparseDense")
        return (*values_shape[:-1], self.units)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        values_mask, _ = mask
        return values_mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "input_dim": self.input_dim,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
                "kernel_constraint": keras.constraints.serialize(
                    self.kernel_constraint
                ),
                "bias_constraint": keras.constraints.serialize(
                    self.bias_constraint
                ),
            }
        )
        return config
