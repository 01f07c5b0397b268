"""A decoder that reconstructs with the transpose of an encoder's kernel."""

import warnings

import keras
from keras import ops

from sparsekeras import _compat
from sparsekeras._validation import check_bool, check_float_dtype
from sparsekeras.layers._sparse_rows import (
    check_pair_of_shapes,
    gather_matmul,
    is_pair_of_shapes,
)


@keras.saving.register_keras_serializable(package="sparsekeras")
class TiedDense(_compat.SparesSharedSublayerLosses, keras.layers.Layer):
    """A `Dense` decoder whose kernel is the transpose of an encoder's.

    With `W` the kernel of `encoder`, of shape `(input_dim, units)`, the
    layer computes

        outputs = activation(codes @ transpose(W) + bias),

    the tied weights of Makhzani & Frey's k-sparse autoencoder. `W` is the
    encoder's very variable, not a copy: a model holds it once, and a
    gradient step moves encoder and decoder together. The layer's own
    weight is its bias of shape `(input_dim,)`; the encoder is tracked as
    its sublayer, so the kernel is saved once and the tie survives `.keras`
    saving; `keras.models.clone_model` unties it, with a warning, and
    `decoder.trainable = False` warns that it freezes the encoder too.
    Codes may also be the pair `(values, indices)` of
    `KSparse(..., return_indices=True)`: only the rows of `transpose(W)`
    that the codes use are gathered, as in `SparseDense`.
    Saving and pitfalls: `docs/components/tied-dense.md`.

    Args:
        encoder: a layer with a 2-D `kernel`, such as `keras.layers.Dense`,
            called (built) before this layer is built.
        activation: activation function, defaults to `None` (linear).
        use_bias: bool, defaults to `True`. Whether to add a bias vector.
        bias_initializer: initializer for the bias, defaults to `"zeros"`.
        bias_regularizer: regularizer for the bias, defaults to `None`.
        bias_constraint: constraint for the bias, defaults to `None`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        `(batch_size, ..., units)`, or a pair `(values, indices)` of the
        same shape `(batch_size, ..., width)`.

    Output shape:
        `(batch_size, ..., input_dim)`.

    Example:

    >>> import keras
    >>> from sparsekeras.layers import KSparse, TiedDense
    >>> inputs = keras.Input((784,))
    >>> encoder = keras.layers.Dense(1000)
    >>> codes = KSparse(k=25)(encoder(inputs))
    >>> outputs = TiedDense(encoder)(codes)
    >>> model = keras.Model(inputs, outputs)
    >>> [tuple(w.shape) for w in model.trainable_weights]
    [(784, 1000), (1000,), (784,)]

    Reference:
        - [Makhzani & Frey, 2013. k-Sparse Autoencoders](
          https://arxiv.org/abs/1312.5663)
    """

    def __init__(
        self,
        encoder,
        activation=None,
        use_bias=True,
        bias_initializer="zeros",
        bias_regularizer=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_float_dtype(self)
        if not isinstance(encoder, keras.layers.Layer):
            raise TypeError(
                "Invalid type for `encoder` of `TiedDense`, expected a "
                "Keras layer with a 2-D `kernel`, such as "
                f"`keras.layers.Dense`. Received: encoder={encoder!r} of "
                f"type {type(encoder).__name__}"
            )
        if encoder.built:
            _kernel_of(encoder)
        self.encoder = encoder
        self.activation = keras.activations.get(activation)
        self.use_bias = check_bool("use_bias", use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.supports_masking = True

    @property
    def trainable(self):
        return keras.layers.Layer.trainable.fget(self)

    @trainable.setter
    def trainable(self, value):
        # Keras sets a sublayer's `trainable` with its layer's, and the
        # encoder is this layer's sublayer for its kernel's sake.
        encoder = getattr(self, "encoder", None)
        if encoder is not None and bool(value) != encoder.trainable:
            warnings.warn(
                f"Setting `trainable={bool(value)}` on the TiedDense layer "
                f"{self.name!r} also sets it on its encoder "
                f"{encoder.name!r}, whose kernel it shares: the encoder is "
                f"now {'trainable' if value else 'frozen'} too. To freeze "
                "the decoder's own bias only, set "
                "`decoder.bias.trainable = False`.",
                stacklevel=2,
            )
        keras.layers.Layer.trainable.fset(self, value)

    @property
    def kernel(self):
        """The encoder's kernel, `(input_dim, units)`, shared not copied."""
        return _kernel_of(self.encoder)

    def build(self, input_shape):
        if not self.encoder.built:
            raise ValueError(
                "Invalid `encoder` for `TiedDense`, expected a built layer: "
                "call the encoder on its inputs before building the "
                f"decoder. Received: encoder={self.encoder.name!r} (not "
                "built)"
            )
        input_dim, units = self.kernel.shape
        if is_pair_of_shapes(input_shape):
            check_pair_of_shapes(
                tuple(input_shape[0]), tuple(input_shape[1]), "TiedDense"
            )
        elif len(input_shape) < 2 or input_shape[-1] not in (None, units):
            raise ValueError(
                "Invalid input shape for `TiedDense`, expected codes of "
                f"shape `(batch_size, ..., {units})`, the encoder's units, "
                "or a pair `(values, indices)`. Received: "
                f"input_shape={input_shape}"
            )
        else:
            self.input_spec = keras.InputSpec(min_ndim=2, axes={-1: units})
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(input_dim,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def call(self, inputs):
        transposed = ops.transpose(self.kernel)
        if isinstance(inputs, (list, tuple)):
            values, indices = inputs
            outputs = gather_matmul(values, indices, transposed, "TiedDense")
        else:
            outputs = ops.matmul(inputs, transposed)
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        return self.activation(outputs)

    def _shared_sublayers(self):
        # The encoder is tracked here for its kernel, but it is another
        # layer of the model, called before this one: its losses are not
        # this layer's to clear.
        return (self.encoder,)

    def compute_output_shape(self, input_shape):
        if is_pair_of_shapes(input_shape):
            input_shape = input_shape[0]
        return (*input_shape[:-1], self.kernel.shape[0])

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            return mask[0]
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
                "bias_constraint": keras.constraints.serialize(
                    self.bias_constraint
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Inside `keras.saving`'s object-sharing scope, the encoder's config
        # carries a `shared_object_id` and deserializes to the very layer
        # the model already holds: that is what keeps the tie on loading.
        config = dict(config)
        encoder = config["encoder"]
        if not (
            isinstance(encoder, keras.layers.Layer)
            or _compat.in_object_sharing_scope()
        ):
            warnings.warn(
                f"TiedDense.from_config rebuilt {config.get('name')!r} "
                "around a new copy of its encoder, tied to no other layer: "
                "`keras.models.clone_model` and `Model.from_config` untie "
                "a tied model this way (its trainable weights grow from 3 "
                "to 5). To copy a tied model, save it and load it with "
                "`keras.models.load_model`.",
                stacklevel=2,
            )
        config["encoder"] = keras.saving.deserialize_keras_object(encoder)
        return cls(**config)


def _kernel_of(encoder):
    kernel = getattr(encoder, "kernel", None)
    if kernel is None or len(kernel.shape) != 2:
        shape = None if kernel is None else tuple(kernel.shape)
        raise ValueError(
            "Invalid `encoder` for `TiedDense`, expected a layer with a "
            "2-D `kernel` of shape `(input_dim, units)`. Received: "
            f"encoder={encoder.name!r} with kernel shape {shape}"
        )
    return kernel
