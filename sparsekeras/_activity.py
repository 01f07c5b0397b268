"""How Keras turns an `activity_regularizer`'s value into a loss."""

from keras import ops

from sparsekeras._compat import KERAS_DIVIDES_ACTIVITY_LOSSES


def activity_loss(regularizer, output):
    """The loss Keras's `Layer.__call__` adds for `regularizer(output)`.

    For a layer that applies its `activity_regularizer` itself, to some of
    its outputs only, and must add what Keras would add for them.
    """
    loss = regularizer(output)
    if KERAS_DIVIDES_ACTIVITY_LOSSES and len(output.shape) > 0:
        batch_size = ops.cast(ops.shape(output)[0], dtype=loss.dtype)
        loss = ops.divide_no_nan(loss, batch_size)
    return loss
