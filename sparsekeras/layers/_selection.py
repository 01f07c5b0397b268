"""Exactly-k selection shared by `KSparse` and `NeuralSparseCoding`."""

import keras
from keras import ops


def top_k_mask(x, k, k_max):
    """True at exactly the `k` largest entries of each row of `x`.

    `k` may be a Python int or a scalar int tensor no larger than the Python
    int `k_max`, so one traced graph serves every `k`. Ties at the threshold
    are kept in index order until `k` entries are kept. NaN ranks as `+inf`
    (ties with it broken by index, as for any tie), so it is kept and
    propagates: backends' `top_k` order NaN differently, and ranking it
    explicitly keeps the same entries on every backend.
    """
    ranked = nan_as_inf(x)
    largest, _ = ops.top_k(ranked, k_max)
    if isinstance(k, int) and k == k_max and not _on_torch():
        # The k-th largest is the smallest of the k largest. A constant
        # slice of `top_k`'s output instead makes XLA (JAX's jit, TF's
        # jit_compile) rewrite the `top_k` as a sort of the whole row,
        # several times slower. `initial` makes an empty batch legal.
        threshold = ops.min(
            largest, axis=-1, keepdims=True, initial=float("inf")
        )
    else:
        # On PyTorch (no XLA) `min` of an empty batch would return a CPU
        # tensor, whatever the device of `x`.
        index = ops.reshape(ops.convert_to_tensor(k, "int32") - 1, (1,))
        threshold = ops.take(largest, index, axis=-1)
    at_least = ranked >= threshold
    count = ops.sum(ops.cast(at_least, "int32"), axis=-1)

    def break_ties():
        above = ranked > threshold
        tied = ops.cast(ranked == threshold, "int32")
        room = k - ops.sum(ops.cast(above, "int32"), axis=-1, keepdims=True)
        return above | ((tied > 0) & (ops.cumsum(tied, axis=-1) <= room))

    # Only a row whose threshold is tied with entries outside its k largest
    # has more than k entries `>= threshold`; the index order among ties
    # (a cumulative sum over the row) is paid for only then.
    return ops.cond(ops.all(count == k), lambda: at_least, break_ties)


def keep_top_k(x, k, k_max):
    """Zeroes all but the entries of `x` that `top_k_mask` keeps."""
    return ops.where(top_k_mask(x, k, k_max), x, ops.zeros_like(x))


def top_k_values_and_indices(x, k, width):
    """The entries that `top_k_mask` keeps, as `width` values and indices.

    `k` may be a Python int or a scalar int tensor no larger than the
    Python int `width`. Each row gives its `width` largest entries, ranked
    as `top_k_mask` ranks them, largest first and ties in index order: the
    first `k` keep their value, the others are 0. Those `k` are exactly the
    entries `top_k_mask` keeps, as TensorFlow and JAX document that their
    `top_k` puts the lower index first among equal values. PyTorch's
    `topk` does not (its CPU kernel does not), and its stable sort of a
    whole row is slow on a CPU, so there `_largest_first` orders them.
    """
    ranked = nan_as_inf(x)
    # -0.0 becomes 0.0: XLA's top_k ranks it below 0.0, and `top_k_mask`
    # ties the two.
    ranked = ops.where(ranked == 0, ops.zeros_like(ranked), ranked)
    if _on_torch():
        indices = _largest_first(ranked, width)
    else:
        _, indices = ops.top_k(ranked, width)
    indices = ops.cast(indices, "int32")
    values = ops.take_along_axis(x, indices, axis=-1)
    kept = ops.arange(width, dtype="int32") < k
    return ops.where(kept, values, ops.zeros_like(values)), indices


def _largest_first(ranked, width):
    """Indices of the `width` largest of each row, ties in index order.

    Relies on no backend's order among ties: the entries `top_k_mask`
    keeps get distinct keys, so `top_k` returns them in index order, and
    Keras's stable `argsort` of their `width` values then sorts them.
    """
    size = ops.shape(ranked)[-1]
    position = ops.arange(size, dtype="int32")
    key = ops.where(top_k_mask(ranked, width, width), size - position, 0)
    _, indices = ops.top_k(key, width)
    largest = ops.take_along_axis(ranked, indices, axis=-1)
    order = ops.argsort(-largest, axis=-1)
    return ops.take_along_axis(indices, order, axis=-1)


def _on_torch():
    return keras.backend.backend() == "torch"


def nan_as_inf(x):
    return ops.where(ops.isnan(x), float("inf"), x)
