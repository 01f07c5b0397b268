"""An exact top-k of wide rows through the maxima of chunks of each row."""

import keras
import numpy as np
from keras import ops

from sparsekeras._ops import tuning


def top_k(x, k):
    """The `k` largest entries of each row of `x`, as `ops.top_k` gives them.

    For a row of `size` entries cut into `chunks = ceil(size / tuning.CHUNK)`
    chunks (the last one padded with the smallest value of the dtype),
    the `k` largest entries lie in the `k` chunks with the largest maxima:
    the top `k` of the chunk maxima picks those chunks, and the top `k` of
    their `k * tuning.CHUNK` entries, kept in index order, is the row's. Among
    equal entries the lower index comes first wherever `ops.top_k` does
    so (TensorFlow, JAX): the chunk maxima's top `k` then picks the lower
    chunks among equal maxima, which hold the lower tied entries. The
    values are the row's `k` largest, largest first, on every backend.

    Rows too narrow for the chunks to pay (`tuning.chunk_method_pays`) go
    to `ops.top_k`.

    Args:
        x: tensor of rank >= 1 whose last axis is known.
        k: `0 < k <= size`, a Python int for the chunk method to run.

    Returns:
        `(values, indices)` of shape `(..., k)`, indices as `int32`.
    """
    if not tuning.chunk_method_pays(x.shape[-1], k):
        values, indices = ops.top_k(x, k)
        return values, ops.cast(indices, "int32")
    return chunked_top_k(x, k)


def chunked_top_k(x, k):
    """`top_k` by the chunk method, whatever the width (needs `k <= chunks`)."""
    size = x.shape[-1]
    chunk_size = tuning.CHUNK
    chunks = -(-size // chunk_size)
    leading = ops.shape(x)[:-1]
    rows = ops.reshape(x, (-1, size))
    padding = chunks * chunk_size - size
    if padding:
        rows = ops.pad(
            rows, ((0, 0), (0, padding)), constant_values=_lowest(x.dtype)
        )
    blocks = ops.reshape(rows, (-1, chunks, chunk_size))
    _, chosen = ops.top_k(_maxima(blocks), k)
    # Chunks in index order, so the candidates are in index order too.
    chosen = ops.sort(ops.cast(chosen, "int32"), axis=-1)
    candidates = ops.take_along_axis(blocks, chosen[..., None], axis=1)
    values, at = ops.top_k(ops.reshape(candidates, (-1, k * chunk_size)), k)
    at = ops.cast(at, "int32")
    chunk = ops.take_along_axis(chosen, at // chunk_size, axis=-1)
    # Padding is never among the k largest where ties go to lower indices;
    # the bound keeps any other backend's indices inside the row.
    indices = ops.minimum(chunk * chunk_size + at % chunk_size, size - 1)
    shape = (*leading, k)
    return ops.reshape(values, shape), ops.reshape(indices, shape)


def _maxima(blocks):
    if keras.backend.backend() == "torch":
        # Keras's `max` on PyTorch gives an empty batch the wrong shape.
        return ops.amax(blocks, axis=-1)
    # `initial` makes an empty batch legal.
    return ops.max(blocks, axis=-1, initial=_lowest(blocks.dtype))


def _lowest(dtype):
    dtype = keras.backend.standardize_dtype(dtype)
    if keras.backend.is_float_dtype(dtype):
        return float("-inf")
    return int(np.iinfo(dtype).min)
