"""One model that holds every sparsekeras component, for whole-model tests."""

import keras

from sparsekeras.layers import KSparse, NeuralSparseCoding, TiedDense
from sparsekeras.regularizers import KLSparsityRegularizer, WeightDecay

INPUT_DIM = 6
SCHEDULE = dict(k=2, k_start=8, anneal_steps=4)
"""KSparse keeps 8, 6, 5, 4, then 2 entries per row in training steps 0-4."""


def every_component_model():
    """NeuralSparseCoding, Dense with KL and WeightDecay, KSparse, a
    TiedDense on that Dense's kernel, Dense.

    Its initializers are seeded, so two calls give equal weights.
    """
    inputs = keras.Input((INPUT_DIM,))
    codes = NeuralSparseCoding(
        10,
        k=3,
        learning_rate=0.5,
        dictionary_initializer=keras.initializers.RandomNormal(seed=1),
    )(inputs)
    encoder = keras.layers.Dense(
        8,
        activation="sigmoid",
        kernel_initializer=keras.initializers.RandomNormal(seed=2),
        kernel_regularizer=WeightDecay(1e-2),
        activity_regularizer=KLSparsityRegularizer(rho=0.1, beta=0.5),
    )
    sparse = KSparse(**SCHEDULE, alpha=1.5)(encoder(codes))
    tied = TiedDense(encoder)(sparse)
    outputs = keras.layers.Dense(
        INPUT_DIM, kernel_initializer=keras.initializers.RandomNormal(seed=3)
    )(tied)
    return keras.Model(inputs, outputs)


def layer_of(model, cls):
    """The one layer of `model` that is an instance of `cls`."""
    (layer,) = [layer for layer in model.layers if isinstance(layer, cls)]
    return layer
