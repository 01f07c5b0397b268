"""Exactly-k selection shared by `KSparse` and `NeuralSparseCoding`."""

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
    ranked = ops.where(ops.isnan(x), float("inf"), x)
    largest, _ = ops.top_k(ranked, k_max)
    index = ops.reshape(ops.convert_to_tensor(k, "int32") - 1, (1,))
    threshold = ops.take(largest, index, axis=-1)
    above = ranked > threshold
    tied = ops.cast(ranked == threshold, "int32")
    room = k - ops.sum(ops.cast(above, "int32"), axis=-1, keepdims=True)
    return above | ((tied > 0) & (ops.cumsum(tied, axis=-1) <= room))


def keep_top_k(x, k, k_max):
    """Zeroes all but the entries of `x` that `top_k_mask` keeps."""
    return ops.where(top_k_mask(x, k, k_max), x, ops.zeros_like(x))
