"""Dense products with k-sparse rows given as `(values, indices)`."""

import keras
from keras import ops


def gather_matmul(values, indices, matrix, layer_name):
    """`x @ matrix` for rows `x` given by their nonzero entries.

    `x[..., indices_j] = values_j` and zero elsewhere; only the `width`
    rows of `matrix` that a row uses are gathered and contracted.
    """
    dtype = keras.backend.standardize_dtype(indices.dtype)
    if not keras.backend.is_int_dtype(dtype):
        raise TypeError(
            f"Invalid dtype for `indices` of `{layer_name}`, expected an "
            f"integer dtype. Received: indices.dtype={dtype}"
        )
    rows = ops.take(matrix, indices, axis=0)
    return ops.einsum("...k,...ku->...u", values, rows)


def is_pair_of_shapes(input_shape):
    """Whether `input_shape` is the shapes of a `(values, indices)` pair."""
    return (
        isinstance(input_shape, (list, tuple))
        and len(input_shape) == 2
        and all(_is_shape(shape) for shape in input_shape)
    )


def pair_of_shapes(input_shape, layer_name):
    """`(values_shape, indices_shape)`, or a `ValueError` naming the input."""
    if is_pair_of_shapes(input_shape):
        return tuple(input_shape[0]), tuple(input_shape[1])
    raise ValueError(
        f"Invalid input for `{layer_name}`, expected a pair of tensors "
        "`(values, indices)`, as `KSparse(..., return_indices=True)` "
        f"returns. Received: input_shape={input_shape}"
    )


def check_pair_of_shapes(values_shape, indices_shape, layer_name):
    """A `ValueError` unless both shapes match with rank >= 2."""
    if len(values_shape) < 2 or not _compatible(values_shape, indices_shape):
        raise ValueError(
            f"Invalid input shapes for `{layer_name}`, expected `values` "
            "and `indices` of the same shape, of rank >= 2 (a batch of "
            f"rows). Received: values.shape={values_shape}, "
            f"indices.shape={indices_shape}"
        )


def _is_shape(shape):
    return isinstance(shape, (list, tuple)) and all(
        dim is None or isinstance(dim, int) for dim in shape
    )


def _compatible(shape, other):
    return len(shape) == len(other) and all(
        a is None or b is None or a == b
        for a, b in zip(shape, other, strict=False)
    )
