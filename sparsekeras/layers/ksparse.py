"""The k-sparse layer of Makhzani & Frey's k-sparse autoencoders."""

import keras
from keras import ops

from sparsekeras import _compat
from sparsekeras._activity import activity_loss
from sparsekeras._ops.selection import (
    keep,
    keep_top_k,
    top_k_mask,
    top_k_values_and_indices,
)
from sparsekeras._ops.sharded_top_k import output_shards, top_k_over
from sparsekeras._ops.top_k import top_k as fast_top_k
from sparsekeras._validation import (
    check_bool,
    check_float,
    check_float_dtype,
    check_int,
)
from sparsekeras.layers._masks import row_mask
from sparsekeras.layers._step import add_step_counter


@keras.saving.register_keras_serializable(package="sparsekeras")
class KSparse(keras.layers.Layer):
    """Keeps the `k` largest values along the last axis and zeroes the rest.

    In training, each row `x` (a slice along the last axis) becomes

        y_i = x_i  if i is one of the k largest entries of x,
        y_i = 0    otherwise,

    with exactly `k` entries kept (among ties at the threshold, the lower
    indices first) and gradients through the kept entries only. At
    inference it keeps the `min(round(alpha * k), size)` largest instead,
    the paper's alpha-k encoding. With `k_start`, the training `k` is
    annealed over the first `T = anneal_steps` training calls, counted by
    the non-trainable weight `step`:

        k_t = round(k_start + (k - k_start) * min(t, T) / T).

    NaN, `±inf`, empty batches and integer inputs follow the
    [shared rules][shared-rules]; the schedule, the pitfalls and
    `return_indices` are explained on the
    [KSparse page][ksparse-page] and under
    [Sparse decoding][sparse-decoding]. A Keras mask (one boolean per
    row) zeroes its masked rows (their values, with `return_indices`) and
    passes on to the next layer.

    Args:
        k: positive integer, the number of entries kept per row in training
            (once any annealing is over). At most the size of the last axis.
        alpha: number >= 1, defaults to `1.0`. At inference the layer keeps
            `min(round(alpha * k), size)` entries per row.
        k_start: integer >= `k`, or `None` (the default) for no annealing.
            The number of entries kept at the first training step. At most
            the size of the last axis.
        anneal_steps: integer in `[0, 2**31 - 1]`, defaults to `0`. The
            number of training steps over which `k_t` goes from `k_start`
            to `k`; `0` means `k` from the start. A positive value requires
            `k_start`.
        return_indices: bool, defaults to `False`. Whether to return the
            kept entries as `(values, indices)`, largest first, for
            `SparseDense`, rather than the dense output.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Tensor of any rank >= 2, e.g. `(batch_size, units)`, whose last
        axis is known.

    Output shape:
        Same shape as the input. With `return_indices=True`, a pair of
        `(..., width)` tensors, values and `int32` indices, where
        `width = max(k_train, min(round(alpha * k), size))`.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from sparsekeras.layers import KSparse
    >>> x = np.array([[0.1, 0.9, 0.4, 0.7],
    ...               [0.5, 0.5, 0.5, 0.2]], dtype="float32")
    >>> layer = KSparse(k=2, alpha=1.5)
    >>> keras.ops.convert_to_numpy(layer(x, training=True))
    array([[0. , 0.9, 0. , 0.7],
           [0.5, 0.5, 0. , 0. ]], dtype=float32)
    >>> keras.ops.convert_to_numpy(layer(x))
    array([[0. , 0.9, 0.4, 0.7],
           [0.5, 0.5, 0.5, 0. ]], dtype=float32)
    >>> values, indices = KSparse(k=2, return_indices=True)(x)
    >>> keras.ops.convert_to_numpy(indices)
    array([[1, 3],
           [0, 1]], dtype=int32)

    Reference:
        - [Makhzani & Frey, 2013. k-Sparse Autoencoders](
          https://arxiv.org/abs/1312.5663)
    """

    def __init__(
        self,
        k,
        *,
        alpha=1.0,
        k_start=None,
        anneal_steps=0,
        return_indices=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_float_dtype(self)
        self.k = check_int("k", k, minimum=1)
        self.alpha = check_float("alpha", alpha, minimum=1.0)
        self.k_start = check_int("k_start", k_start, allow_none=True)
        if self.k_start is not None and self.k_start < self.k:
            raise ValueError(
                "Invalid value for `k_start`, expected an integer >= "
                f"`k` ({self.k}). Received: k_start={k_start!r}"
            )
        self.anneal_steps = check_int("anneal_steps", anneal_steps, minimum=0)
        if self.anneal_steps > 0 and self.k_start is None:
            raise ValueError(
                "Invalid value for `anneal_steps`, expected 0 when `k_start` "
                "is None: annealing needs a `k_start` to start from. "
                f"Received: anneal_steps={anneal_steps!r}"
            )
        self.return_indices = check_bool("return_indices", return_indices)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                "Invalid input shape for `KSparse`, expected a rank >= 2 "
                "input (a batch of rows). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        size = input_shape[-1]
        if size is None:
            raise ValueError(
                "Invalid input shape for `KSparse`, expected the last axis "
                "to be defined. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        for name in ("k", "k_start"):
            value = getattr(self, name)
            if value is not None and value > size:
                raise ValueError(
                    f"Invalid value for `{name}`: `{name}`={value} is larger "
                    f"than the last axis of the input ({size})."
                )
        self._inference_k = self._inference_k_for(size)
        self._width = self._width_for(size)
        self.step = add_step_counter(self)
        self.input_spec = keras.InputSpec(min_ndim=2, axes={-1: size})

    def __call__(self, inputs, *args, **kwargs):
        regularized = self.activity_regularizer is not None
        if not (self.return_indices and regularized):
            return super().__call__(inputs, *args, **kwargs)
        # Keras would regularize every output, the integer indices too.
        with _compat.activity_regularizer_off(self) as regularizer:
            values, indices = super().__call__(inputs, *args, **kwargs)
        if ops.is_tensor(values):
            self.add_loss(activity_loss(regularizer, values))
        return values, indices

    def call(self, inputs, training=None, mask=None):
        if not keras.backend.is_float_dtype(inputs.dtype):
            inputs = ops.cast(inputs, self.compute_dtype)
        outputs = self._select(inputs, training)
        rows_kept = row_mask(mask, inputs)
        if rows_kept is None:
            return outputs
        if self.return_indices:
            values, indices = outputs
            return keep(values, rows_kept), indices
        return keep(outputs, rows_kept)

    def _select(self, inputs, training):
        # Rows split across devices are ranked shard by shard.
        top_k = top_k_over(output_shards(self), fast_top_k)
        if not training:
            k = self._inference_k
            return self._keep(inputs, k, k, top_k)
        if self.return_indices:
            # The width is the same for every k: no branch to take.
            k = self._annealed_k() if self._anneals() else self.k
            outputs = self._keep(inputs, k, self._width, top_k)
        elif self._anneals():
            # Once annealing is over, the top k_start need not be sorted
            # out. The branches return the mask only, so that gradients
            # do not flow through the branch.
            mask = ops.cond(
                self.step < self.anneal_steps,
                lambda: top_k_mask(
                    inputs, self._annealed_k(), self.k_start, top_k
                ),
                lambda: top_k_mask(inputs, self.k, self.k, top_k),
            )
            outputs = keep(inputs, mask)
        else:
            outputs = self._keep(inputs, self.k, self.k, top_k)
        self.step.assign_add(1)
        return outputs

    def _keep(self, inputs, k, k_max, top_k):
        if self.return_indices:
            return top_k_values_and_indices(inputs, k, self._width, top_k)
        return keep_top_k(inputs, k, k_max, top_k)

    def _anneals(self):
        return self.k_start is not None and self.anneal_steps > 0

    def _inference_k_for(self, size):
        return min(round(self.alpha * self.k), size)

    def _width_for(self, size):
        k_train = self.k_start if self._anneals() else self.k
        return max(k_train, self._inference_k_for(size))

    def _annealed_k(self):
        t = ops.cast(ops.minimum(self.step, self.anneal_steps), "float32")
        # (k - k_start) * t is an exact float32 integer, so halves stay
        # halves and round (half to even) agrees with the formula's round.
        k_t = self.k_start + (self.k - self.k_start) * t / self.anneal_steps
        return ops.cast(ops.round(k_t), "int32")

    def compute_output_shape(self, input_shape):
        if not self.return_indices:
            return input_shape
        shape = (*input_shape[:-1], self._width_for(input_shape[-1]))
        return shape, shape

    def compute_output_spec(self, inputs, **kwargs):
        if not self.return_indices:
            return super().compute_output_spec(inputs, **kwargs)
        shape, _ = self.compute_output_shape(inputs.shape)
        return (
            keras.KerasTensor(shape, dtype=self.compute_dtype),
            keras.KerasTensor(shape, dtype="int32"),
        )

    def compute_mask(self, inputs, mask=None):
        if self.return_indices:
            return mask, mask
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "k": self.k,
                "alpha": self.alpha,
                "k_start": self.k_start,
                "anneal_steps": self.anneal_steps,
                "return_indices": self.return_indices,
            }
        )
        return config
