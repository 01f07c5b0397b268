"""BatchTopK: the k x batch largest activations of a whole batch."""

import keras
import numpy as np
from keras import ops

from sparsekeras._ops.selection import keep, nan_as_inf, top_k_mask
from sparsekeras._ops.sharded_top_k import (
    flatten_by_block,
    output_shards,
    top_k_over,
    unflatten_by_block,
)
from sparsekeras._ops.top_k import top_k as fast_top_k
from sparsekeras._validation import check_float, check_float_dtype, check_int
from sparsekeras.layers._masks import row_mask
from sparsekeras.layers._step import add_step_counter


@keras.saving.register_keras_serializable(package="sparsekeras")
class BatchTopK(keras.layers.Layer):
    """Keeps the `k * rows` largest values of the whole batch in training.

    In training, with `rows` the number of rows of the batch (all axes but
    the last), the layer keeps exactly the `k * rows` largest entries of
    the whole batch, so a row may keep more or fewer than `k`; ties are
    kept in row-major order (lower row first, then lower index), and NaN
    ranks as `+inf`, as in `KSparse`. Each training call also updates the
    non-trainable weight `threshold`, θ, with the smallest kept value `m`:

        θ <- θ + (m - θ) * max(1 / t, 1 - momentum),

    `t` counting the updates (the weight `step`): a plain mean of the first
    `1 / (1 - momentum)` batches, then a moving average. A batch whose `m`
    is not finite leaves θ as it is. At inference the layer keeps exactly
    the entries above θ (`x > θ`, NaN kept), independently per row. θ
    starts at 0 and is saved with the model. Gradients flow through the
    kept entries only. Under `tf.distribute` each replica selects among
    its own rows and θ takes the replicas' mean update; under JAX's
    `DataParallel` the selection is over the global batch. A Keras mask
    (one boolean per row) leaves its masked rows out: they output zeros,
    take no part of the `k * rows` budget (`rows` counts the unmasked rows
    only) and do not move θ; the mask passes on to the next layer. Under
    a `keras.distribution.ModelParallel` that lays out the layer's output
    with a mesh axis last, each device ranks its block of latents and ties
    at the threshold are kept block by block (each device's block,
    row-major, in turn). See [Sparse autoencoders](sparse-autoencoders.md).

    Args:
        k: positive integer, the mean number of entries kept per row in
            training. At most the size of the last axis.
        momentum: number in [0, 1) once rounded to float32, defaults to
            `0.99`: the weight of the past in θ's moving average.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Tensor of any rank >= 2 whose last axis is known.

    Output shape:
        Same shape as the input.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from sparsekeras.layers import BatchTopK
    >>> x = np.array([[0.1, 0.9, 0.4, 0.7],
    ...               [0.5, 0.3, 0.2, 0.0]], dtype="float32")
    >>> layer = BatchTopK(k=2)
    >>> keras.ops.convert_to_numpy(layer(x, training=True))
    array([[0. , 0.9, 0.4, 0.7],
           [0.5, 0. , 0. , 0. ]], dtype=float32)
    >>> round(float(layer.threshold.numpy()), 4)
    0.4
    >>> keras.ops.convert_to_numpy(layer(x))
    array([[0. , 0.9, 0. , 0.7],
           [0.5, 0. , 0. , 0. ]], dtype=float32)

    Reference:
        - [Bussmann et al., 2024. BatchTopK Sparse Autoencoders](
          https://arxiv.org/abs/2412.06410)
    """

    def __init__(self, k, *, momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        check_float_dtype(self)
        self.k = check_int("k", k, minimum=1)
        self.momentum = check_float("momentum", momentum, minimum=0.0)
        if np.float32(self.momentum) >= 1.0:
            raise ValueError(
                "Invalid value for `momentum`, expected a finite number with "
                "0.0 <= momentum < 1.0 in float32, where θ is averaged "
                "(1 - 1e-10 rounds to 1.0). "
                f"Received: momentum={momentum!r}"
            )
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                "Invalid input shape for `BatchTopK`, expected a rank >= 2 "
                "input whose last axis is defined. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        size = input_shape[-1]
        if self.k > size:
            raise ValueError(
                f"Invalid value for `k`: `k`={self.k} is larger than the "
                f"last axis of the input ({size})."
            )
        self.threshold = self.add_weight(
            name="threshold",
            shape=(),
            initializer="zeros",
            dtype="float32",
            trainable=False,
            autocast=False,
            aggregation="mean",
        )
        self.step = add_step_counter(self)
        self.input_spec = keras.InputSpec(min_ndim=2, axes={-1: size})

    def call(self, inputs, training=None, mask=None):
        if not keras.backend.is_float_dtype(inputs.dtype):
            inputs = ops.cast(inputs, self.compute_dtype)
        rows_kept = row_mask(mask, inputs)
        ranked = nan_as_inf(inputs)
        if not training:
            # Compared in float32 (or wider): a bf16 threshold would move.
            dtype = keras.backend.result_type(inputs.dtype, "float32")
            theta = ops.cast(self.threshold, dtype)
            kept = ops.cast(ranked, dtype) > theta
            if rows_kept is not None:
                kept = kept & rows_kept
            return keep(inputs, kept)
        shape = ops.shape(inputs)
        rows = 1
        for size in shape[:-1]:
            rows = rows * size
        if isinstance(rows, int) and rows == 0:
            return ops.zeros_like(inputs)
        budget = self.k * rows
        if rows_kept is None:
            kept = self._top(ranked, budget, budget)
        else:
            # A masked row takes no part of the budget: its entries rank
            # below every other and are dropped whatever the ranking.
            unmasked = ops.sum(ops.cast(rows_kept, "int32"))
            ranked = ops.where(rows_kept, ranked, float("-inf"))
            kept = self._top(ranked, self.k * unmasked, budget) & rows_kept
        self._update_threshold(ops.where(kept, ranked, float("inf")))
        return keep(inputs, kept)

    def _top(self, ranked, budget, max_budget):
        # Latents split across devices are ranked where they lie, each
        # device's block of the batch, then the candidates merged.
        shards = output_shards(self)
        flat = flatten_by_block(ranked, shards)
        kept = top_k_mask(
            flat, budget, max_budget, top_k_over(shards, fast_top_k)
        )
        return unflatten_by_block(kept, ops.shape(ranked), shards)

    def _update_threshold(self, kept):
        smallest = ops.cast(ops.min(kept), "float32")
        theta = ops.convert_to_tensor(self.threshold)
        t = ops.cast(self.step + 1, "float32")
        rate = ops.maximum(1.0 / t, 1.0 - self.momentum)
        finite = ops.isfinite(smallest)
        moved = theta + (ops.where(finite, smallest, theta) - theta) * rate
        self.threshold.assign(moved)
        self.step.assign_add(ops.cast(finite, self.step.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"k": self.k, "momentum": self.momentum})
        return config
