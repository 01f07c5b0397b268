"""JumpReLU: each latent passes its pre-activation above a learned threshold."""

import math

import keras
from keras import ops

from sparsekeras._validation import check_float, check_float_dtype


@keras.saving.register_keras_serializable(package="sparsekeras")
class JumpReLU(keras.layers.Layer):
    """Zeroes each latent below its own learned threshold θ.

    With `x` the pre-activations and one threshold `θ_i > 0` per latent
    (the last axis), the layer computes

        z_i = JumpReLU_θ(x_i) = x_i H(x_i - θ_i),

    `H` the Heaviside step (`H(0) = 0`); NaN passes, as in `KSparse`. The
    trainable weight is `log_threshold`, log θ, float32 whatever the dtype
    policy, so θ stays positive and keeps its resolution under mixed
    precision. `H` has no useful derivative, so training uses the paper's
    straight-through estimators with the rectangle kernel
    `K(u) = 1 if -1/2 < u < 1/2 else 0` and bandwidth ε:

        ð z_i / ð θ_i = -(θ_i / ε) K((x_i - θ_i) / ε),
        ð z_i / ð x_i = H(x_i - θ_i),

    summed over the rows for θ; the chain rule through `θ = exp(log θ)`
    multiplies θ's gradient by θ. The sparsity penalty of the paper is
    `l0` (with `ð H / ð θ = -(1 / ε) K(...)` and no gradient to `x`);
    `tanh_l0` is the smooth variant of Anthropic's January 2025 update.
    Their coefficient and warm-up belong to the loss that adds them. Under
    Adam a step moves log θ by about the learning rate, so θ by about θ
    times it: a small θ learns slowly (SAELens PR #718). See
    [Sparse autoencoders](sparse-autoencoders.md).

    Args:
        initial_threshold: positive number, defaults to `0.001` (the
            paper's): θ of every latent before training.
        bandwidth: positive number, defaults to `0.001` (the paper's, for
            inputs scaled to a mean squared norm of 1): ε, the width of
            the window around θ in which the estimators give θ a gradient.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Tensor of any rank >= 2 whose last axis (the latents) is known.

    Output shape:
        Same shape as the input.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from sparsekeras.layers import JumpReLU
    >>> x = np.array([[0.5, 2.0, -1.0, 1.5]], dtype="float32")
    >>> layer = JumpReLU(initial_threshold=1.0)
    >>> keras.ops.convert_to_numpy(layer(x))
    array([[0. , 2. , 0. , 1.5]], dtype=float32)
    >>> keras.ops.convert_to_numpy(layer.l0(x))
    array([2.], dtype=float32)

    Reference:
        - [Rajamanoharan et al., 2024. Jumping Ahead: Improving
          Reconstruction Fidelity with JumpReLU Sparse Autoencoders](
          https://arxiv.org/abs/2407.14435)
    """

    def __init__(self, *, initial_threshold=0.001, bandwidth=0.001, **kwargs):
        super().__init__(**kwargs)
        check_float_dtype(self)
        self.initial_threshold = check_float(
            "initial_threshold", initial_threshold, minimum=0.0, exclusive=True
        )
        self.bandwidth = check_float(
            "bandwidth", bandwidth, minimum=0.0, exclusive=True
        )
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                "Invalid input shape for `JumpReLU`, expected a rank >= 2 "
                "input whose last axis is defined. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        size = input_shape[-1]
        self.log_threshold = self.add_weight(
            name="log_threshold",
            shape=(size,),
            initializer=keras.initializers.Constant(
                math.log(self.initial_threshold)
            ),
            dtype="float32",
            autocast=False,
        )
        self.input_spec = keras.InputSpec(min_ndim=2, axes={-1: size})

    @property
    def threshold(self):
        """θ = exp(log θ), one float32 per latent."""
        return ops.exp(self.log_threshold)

    def call(self, inputs):
        return jump_relu(self._as_float(inputs), self.threshold, self.bandwidth)

    def l0(self, pre_activations):
        """The number of latents above threshold per row, Σ_i H(x_i - θ_i).

        Its gradient is the paper's straight-through estimator: θ_i gets
        `-(1 / ε) K((x_i - θ_i) / ε)` per row and `x` gets none, so the
        penalty `λ mean(l0(x))` lowers L0 by raising θ only.

        Args:
            pre_activations: the tensor the layer is called on.

        Returns:
            float32 tensor of the shape of `pre_activations` without its
            last axis.
        """
        active = heaviside(
            self._as_float(pre_activations), self.threshold, self.bandwidth
        )
        return ops.sum(active, axis=-1)

    def tanh_l0(self, pre_activations, decoder_norms=None, scale=4.0):
        """Σ_i tanh(c z_i ‖d_i‖), a smooth stand-in for the L0 count.

        `z = JumpReLU_θ(x) >= 0` and `‖d_i‖` the norm of latent i's decoder
        row (1 when `decoder_norms` is None). The tanh is differentiated
        exactly, also at `z_i = 0` (no `|z|`, whose derivative at 0 differs
        between backends), and reaches θ through `z`'s straight-through
        estimator, from the entries on both sides of θ within ε / 2.

        Args:
            pre_activations: the tensor the layer is called on.
            decoder_norms: tensor of shape `(latents,)`, or None.
            scale: positive number c, defaults to `4.0` (SAELens's).

        Returns:
            tensor of the shape of `pre_activations` without its last axis.
        """
        scale = check_float("scale", scale, minimum=0.0, exclusive=True)
        codes = jump_relu(
            self._as_float(pre_activations), self.threshold, self.bandwidth
        )
        if decoder_norms is not None:
            codes = codes * ops.cast(decoder_norms, codes.dtype)
        return ops.sum(ops.tanh(codes * scale), axis=-1)

    def _as_float(self, inputs):
        inputs = ops.convert_to_tensor(inputs)
        if not keras.backend.is_float_dtype(inputs.dtype):
            inputs = ops.cast(inputs, self.compute_dtype)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "initial_threshold": self.initial_threshold,
                "bandwidth": self.bandwidth,
            }
        )
        return config


def jump_relu(x, threshold, bandwidth):
    """`x H(x - θ)` with the paper's straight-through gradients.

    Args:
        x: float tensor whose last axis has one entry per threshold.
        threshold: float32 tensor θ of shape `(latents,)`.
        bandwidth: positive float ε.

    Returns:
        tensor of the shape and dtype of `x`.
    """

    @ops.custom_gradient
    def forward(x, threshold):
        distance = ops.cast(x, "float32") - threshold
        passes = _passes(distance)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            d_threshold = -(threshold / bandwidth) * _rectangle(
                distance / bandwidth
            )
            return (
                ops.where(passes, upstream, ops.zeros_like(upstream)),
                _sum_over_rows(d_threshold * ops.cast(upstream, "float32")),
            )

        return ops.where(passes, x, ops.zeros_like(x)), grad

    return forward(x, threshold)


def heaviside(x, threshold, bandwidth):
    """`H(x - θ)` as float32, with the paper's straight-through gradients.

    Args:
        x: float tensor whose last axis has one entry per threshold.
        threshold: float32 tensor θ of shape `(latents,)`.
        bandwidth: positive float ε.

    Returns:
        float32 tensor of the shape of `x`.
    """

    @ops.custom_gradient
    def forward(x, threshold):
        distance = ops.cast(x, "float32") - threshold

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            d_threshold = -(1.0 / bandwidth) * _rectangle(distance / bandwidth)
            return (
                ops.zeros_like(x),
                _sum_over_rows(d_threshold * ops.cast(upstream, "float32")),
            )

        return ops.cast(_passes(distance), "float32"), grad

    return forward(x, threshold)


def _passes(distance):
    # NaN passes, as in KSparse, rather than vanish silently.
    return ops.logical_or(distance > 0, ops.isnan(distance))


def _rectangle(u):
    return ops.cast(ops.logical_and(u > -0.5, u < 0.5), "float32")


def _sum_over_rows(gradient):
    return ops.sum(gradient, axis=tuple(range(len(gradient.shape) - 1)))
