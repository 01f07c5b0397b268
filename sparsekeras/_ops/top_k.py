"""An exact top-k of wide rows through the maxima of chunks of each row."""

import keras
import numpy as np
from keras import ops

CHUNK = 32
"""Entries per chunk."""
CUT_OVER = {"jax": (2048, 7), "tensorflow": (8192, 16), "torch": (16384, 24)}
"""Per backend, `(min_size, min_chunks_per_k)`: the chunk method runs on
rows of at least `min_size` entries with at least `min_chunks_per_k`
chunks per k, and the backend's own `top_k` on the others. Measured on a
CPU (see the "Finished investigations" docs page); never on a GPU."""


def top_k(x, k):
    """The `k` largest entries of each row of `x`, as `ops.top_k` gives them.

    For a row of `size` entries cut into `chunks = ceil(size / CHUNK)`
    chunks (the last one padded with the smallest value of the dtype),
    the `k` largest entries lie in the `k` chunks with the largest maxima:
    the top `k` of the chunk maxima picks those chunks, and the top `k` of
    their `k * CHUNK` entries, kept in index order, is the row's. Among
    equal entries the lower index comes first wherever `ops.top_k` does
    so (TensorFlow, JAX): the chunk maxima's top `k` then picks the lower
    chunks among equal maxima, which hold the lower tied entries. The
    values are the row's `k` largest, largest first, on every backend.

    Rows too narrow for the chunks to pay (see `pays`) go to `ops.top_k`.

    Args:
        x: tensor of rank >= 1 whose last axis is known.
        k: `0 < k <= size`, a Python int for the chunk method to run.

    Returns:
        `(values, indices)` of shape `(..., k)`, indices as `int32`.
    """
    if not pays(x.shape[-1], k):
        values, indices = ops.top_k(x, k)
        return values, ops.cast(indices, "int32")
    return chunked_top_k(x, k)


def chunked_top_k(x, k):
    """`top_k` by the chunk method, whatever the width (needs `k <= chunks`)."""
    size = x.shape[-1]
    chunks = -(-size // CHUNK)
    leading = ops.shape(x)[:-1]
    rows = ops.reshape(x, (-1, size))
    padding = chunks * CHUNK - size
    if padding:
        rows = ops.pad(
            rows, ((0, 0), (0, padding)), constant_values=_lowest(x.dtype)
        )
    blocks = ops.reshape(rows, (-1, chunks, CHUNK))
    _, chosen = ops.top_k(_maxima(blocks), k)
    # Chunks in index order, so the candidates are in index order too.
    chosen = ops.sort(ops.cast(chosen, "int32"), axis=-1)
    candidates = ops.take_along_axis(blocks, chosen[..., None], axis=1)
    values, at = ops.top_k(ops.reshape(candidates, (-1, k * CHUNK)), k)
    at = ops.cast(at, "int32")
    chunk = ops.take_along_axis(chosen, at // CHUNK, axis=-1)
    # Padding is never among the k largest where ties go to lower indices;
    # the bound keeps any other backend's indices inside the row.
    indices = ops.minimum(chunk * CHUNK + at % CHUNK, size - 1)
    shape = (*leading, k)
    return ops.reshape(values, shape), ops.reshape(indices, shape)


def pays(size, k):
    """Whether `top_k` takes the chunk method for `k` of `size` entries."""
    min_size, min_chunks_per_k = CUT_OVER.get(
        keras.backend.backend(), CUT_OVER["jax"]
    )
    return (
        isinstance(size, int)
        and isinstance(k, int)
        and size >= min_size
        and -(-size // CHUNK) >= min_chunks_per_k * k
    )


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
