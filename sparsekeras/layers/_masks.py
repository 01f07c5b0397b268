"""Keras masks over rows: which rows a layer must leave out."""

from keras import ops


def row_mask(mask, inputs):
    """`mask` as a bool tensor of shape `(..., 1)` over the rows of `inputs`.

    Keras masks a row (a timestep, a slice along the last axis) with one
    boolean per row, of shape `inputs.shape[:-1]`; `None` stays `None`.
    """
    if mask is None:
        return None
    mask = ops.cast(mask, "bool")
    if len(mask.shape) != len(inputs.shape) - 1:
        raise ValueError(
            "Invalid mask, expected one boolean per row, of shape "
            f"{tuple(inputs.shape[:-1])} (the input's shape without its "
            f"last axis). Received: mask.shape={tuple(mask.shape)}"
        )
    return ops.expand_dims(mask, -1)
