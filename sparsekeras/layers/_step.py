"""The training-step counter that KSparse, NeuralSparseCoding and BatchTopK
keep as a non-trainable weight."""


def add_step_counter(layer):
    """Adds `layer.step`: an int scalar, 0 at first, saved with the model.

    Under a distribution strategy the first replica's count is the count
    (every replica takes the same steps).
    """
    return layer.add_weight(
        name="step",
        shape=(),
        initializer="zeros",
        dtype="int",
        trainable=False,
        autocast=False,
        aggregation="only_first_replica",
    )
