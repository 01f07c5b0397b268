"""The counters that KSparse, NeuralSparseCoding, BatchTopK and
SparseAutoencoder keep as non-trainable weights."""


def add_step_counter(
    layer,
    name="step",
    shape=(),
    dtype="int",
    aggregation="only_first_replica",
):
    """Adds a counter weight `name`: 0 at first, saved with the model.

    By default the training-step counter `step`, an int scalar. Under a
    distribution strategy the first replica's count is the count (every
    replica takes the same steps); `aggregation="sum"` adds the replicas'
    values instead.
    """
    return layer.add_weight(
        name=name,
        shape=shape,
        initializer="zeros",
        dtype=dtype,
        trainable=False,
        autocast=False,
        aggregation=aggregation,
    )
