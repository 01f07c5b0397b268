"""Counts of rows across `tf.distribute` replicas, for global batch means."""

import keras
from keras import ops


def rows_per_replica(rows):
    """The rows of `rows` (the product of all axes but the last), replica mean.

    On TensorFlow the count is all-reduced across replicas
    (`ops.moments(synchronized=True)`, a no-op with no strategy), so a sum
    over a replica's rows divided by it, then averaged over replicas, is a
    mean over the global batch even when the batch splits unevenly. Under
    JAX's `DataParallel` the step is traced on the global batch, so the
    count of `rows` is already the global one.
    """
    count = ops.convert_to_tensor(1.0, "float32")
    for size in ops.shape(rows)[:-1]:
        count = count * ops.cast(size, "float32")
    if keras.backend.backend() == "tensorflow":
        count, _ = ops.moments(
            ops.reshape(count, (1,)), (0,), synchronized=True
        )
    return count


def replica_mean(vector):
    """The mean of a float32 vector over `tf.distribute` replicas.

    One all-reduce (`ops.moments(synchronized=True)`, a no-op with no
    strategy), so that every replica gets the same vector; the other
    backends have no replicas inside a step.
    """
    if keras.backend.backend() != "tensorflow":
        return vector
    mean, _ = ops.moments(vector[None], (0,), synchronized=True)
    return mean
