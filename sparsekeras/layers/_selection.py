"""Exactly-k selection shared by `KSparse` and `NeuralSparseCoding`."""

from keras import ops


def keep_top_k(x, k, k_max):
    """Zeroes all but exactly the `k` largest entries of each row of `x`.

    `k` may be a Python int or a scalar int tensor no larger than the Python
    int `k_max`, so one traced graph serves every `k`. Ties at the threshold
    are kept in index order until `k` entries are kept.
    """
    largest, _ = ops.top_k(x, k_max)
    index = ops.reshape(ops.convert_to_tensor(k, "int32") - 1, (1,))
    threshold = ops.take(largest, index, axis=-1)
    above = x > threshold
    tied = ops.cast(x == threshold, "int32")
    room = k - ops.sum(ops.cast(above, "int32"), axis=-1, keepdims=True)
    keep = above | ((tied > 0) & (ops.cumsum(tied, axis=-1) <= room))
    return ops.where(keep, x, ops.zeros_like(x))
