"""Exactly-k selection shared by `KSparse` and `NeuralSparseCoding`."""

import keras
from keras import ops

from sparsekeras._ops.top_k import top_k as fast_top_k
from sparsekeras._ops.tuning import at_torch_partial_sort_edge, cond_where_known


def top_k_mask(x, k, k_max, top_k=fast_top_k):
    """True at exactly the `k` largest entries of each row of `x`.

    `k` may be a Python int or a scalar int tensor no larger than the Python
    int `k_max`, so one traced graph serves every `k`. Ties at the threshold
    are kept in index order until `k` entries are kept. NaN ranks as `+inf`
    (ties with it broken by index, as for any tie), so it is kept and
    propagates: backends' `top_k` order NaN differently, and ranking it
    explicitly keeps the same entries on every backend. `top_k(x, width)`
    gives the `width` largest values of each row, largest first (the
    indices are not used): `sharded_top_k`'s where rows are split across
    devices.

    The row passes over its entries three times when no row has a tie at
    its threshold: NaN ranking, the top `k_max + 1` (`_fast_top_k`) and the
    comparison with the threshold; whether a row has more than `k` entries
    at or above its threshold is read from the `(k + 1)`-th largest, not
    counted over the row (except at PyTorch's partial-sort edge, see
    `tuning.TORCH_PARTIAL_SORT_RATIO`).
    """
    ranked = nan_as_inf(x)
    threshold, following = _kth_and_next_largest(ranked, k, k_max, top_k)
    at_least = ranked >= threshold

    def break_ties():
        above = ranked > threshold
        tied = ops.cast(ranked == threshold, "int32")
        room = k - ops.sum(ops.cast(above, "int32"), axis=-1, keepdims=True)
        return above | ((tied > 0) & (ops.cumsum(tied, axis=-1) <= room))

    # Only a row whose (k + 1)-th largest equals its k-th has more than k
    # entries `>= threshold`; the index order among ties (a cumulative sum
    # over the row) is paid for only then.
    return cond_where_known(
        ops.all(following < threshold), lambda: at_least, break_ties
    )


def _kth_and_next_largest(ranked, k, k_max, top_k):
    """The `k`-th and `(k + 1)`-th largest of each row, `(..., 1)` each.

    Both are read from `top_k`'s values by a masked sum over positions
    rather than a slice: a constant slice of `top_k`'s output makes XLA
    rewrite the `top_k` as a sort of the whole row, several times slower.
    Where `k` is the whole row, the "next" is 0, which only sends the
    selection to its tie-breaking branch (correct, if slower).
    """
    size = ranked.shape[-1]
    if top_k is fast_top_k and at_torch_partial_sort_edge(k_max, size):
        return _kth_and_count(ranked, k, k_max)
    if isinstance(k_max, int) and isinstance(size, int):
        width = min(k_max + 1, size)
    else:
        # `BatchTopK`'s `k * rows` under a traced, unknown batch size.
        width = ops.minimum(k_max + 1, ops.shape(ranked)[-1])
    largest, _ = top_k(ranked, width)
    return _value_at(largest, k - 1, width), _value_at(largest, k, width)


def _value_at(largest, index, width):
    """`largest[..., index]`, `(..., 1)`, by a masked sum (no slice)."""
    position = ops.arange(width, dtype="int32")
    zero = ops.zeros((), dtype=largest.dtype)
    picked = ops.where(position == index, largest, zero)
    return ops.sum(picked, axis=-1, keepdims=True)


def _kth_and_count(ranked, k, k_max):
    """`_kth_and_next_largest` from the top `k_max` and a count."""
    largest, _ = fast_top_k(ranked, k_max)
    threshold = _value_at(largest, k - 1, k_max)
    count = ops.sum(
        ops.cast(ranked >= threshold, "int32"), axis=-1, keepdims=True
    )
    # Only "more than k at or above the threshold" matters downstream.
    following = ops.where(count > k, threshold, float("-inf"))
    return threshold, ops.cast(following, ranked.dtype)


def keep_top_k(x, k, k_max, top_k=fast_top_k):
    """Zeroes all but the entries of `x` that `top_k_mask` keeps."""
    return keep(x, top_k_mask(x, k, k_max, top_k))


def keep(x, mask):
    """`x` where `mask` holds, 0 elsewhere (a scalar zero: no extra pass)."""
    return ops.where(mask, x, ops.zeros((), dtype=x.dtype))


def top_k_values_and_indices(x, k, width, top_k=fast_top_k):
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
        _, indices = top_k(ranked, width)
    values = ops.take_along_axis(x, indices, axis=-1)
    return keep(values, ops.arange(width, dtype="int32") < k), indices


def _largest_first(ranked, width):
    """Indices of the `width` largest of each row, ties in index order.

    Relies on no backend's order among ties: the entries `top_k_mask`
    keeps get distinct keys, so `top_k` returns them in index order, and
    Keras's stable `argsort` of their `width` values then sorts them.
    """
    size = ops.shape(ranked)[-1]
    position = ops.arange(size, dtype="int32")
    key = ops.where(top_k_mask(ranked, width, width), size - position, 0)
    _, indices = fast_top_k(key, width)
    largest = ops.take_along_axis(ranked, indices, axis=-1)
    order = ops.argsort(-largest, axis=-1)
    return ops.take_along_axis(indices, order, axis=-1)


def _on_torch():
    return keras.backend.backend() == "torch"


def nan_as_inf(x):
    return ops.where(ops.isnan(x), float("inf"), x)
