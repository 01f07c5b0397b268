"""How Keras turns an `activity_regularizer`'s value into a loss."""

import re

import keras
from keras import ops


def _keras_divides_activity_losses():
    """Whether this Keras divides activity regularizers by the batch size.

    Keras 3.14 (keras PR 22021) started dividing the value an
    `activity_regularizer` returns by the batch size before `add_loss`;
    3.13 and earlier add it unchanged.
    """
    major, minor = re.match(r"(\d+)\.(\d+)", keras.version()).groups()
    return (int(major), int(minor)) >= (3, 14)


KERAS_DIVIDES_ACTIVITY_LOSSES = _keras_divides_activity_losses()


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
