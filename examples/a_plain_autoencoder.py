"""
Title: Plain autoencoder on MNIST
Author: The sparsekeras authors
Date created: 2026/11/24
Last modified: 2026/11/24
Description: Case (a): a sigmoid autoencoder with no sparsity at all.
"""

"""
## Introduction

A plain autoencoder: 784 pixels, a sigmoid hidden layer of 1000 units, a
sigmoid output of 784 pixels, trained to reproduce its input. Nothing asks
its hidden code to be sparse; it is the baseline of sparsekeras's five-case
comparison, whose original observation was that its filters are not
specific to digits.

This script trains case (a) of sparsekeras's five-case comparison and
writes its three pictures into `case_a/`: the learned filters (with and
without per-filter contrast normalisation), originals above their
reconstructions, and the cost per epoch. Set the environment variable
`SPARSEKERAS_EXAMPLE_EPOCHS` for a shorter or longer run.
"""

"""
## Setup
"""

import os

import keras
import numpy as np

import sparsekeras as sk

EPOCHS = int(os.environ.get("SPARSEKERAS_EXAMPLE_EPOCHS", "15"))
BATCH_SIZE = 128
UNITS = 1000
OUT = "case_a"
keras.utils.set_random_seed(0)

"""
## Prepare the data

`load_mnist` reads Keras's MNIST when it can, else the sample of real MNIST
shipped inside sparsekeras. Pixels are scaled to [0, 1] and flattened.
"""

(x_train, _), (x_test, _) = sk.datasets.load_mnist()
x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
x_test = x_test.reshape(-1, 784).astype("float32") / 255.0

"""
## Build the model
"""

inputs = keras.Input(shape=(784,))
codes = keras.layers.Dense(UNITS, activation="sigmoid", name="encoder")(inputs)
outputs = keras.layers.Dense(784, activation="sigmoid")(codes)
autoencoder = keras.Model(inputs, outputs)


def squared_error_cost(y_true, y_pred):
    """UFLDL's reconstruction cost of one image: (1/2)·Σ (x − x̂)²."""
    return 0.5 * keras.ops.sum(keras.ops.square(y_true - y_pred), axis=-1)


autoencoder.compile(
    optimizer=keras.optimizers.Adam(1e-3), loss=squared_error_cost
)

"""
## Train
"""

history = autoencoder.fit(
    x_train, x_train, epochs=EPOCHS, batch_size=BATCH_SIZE, shuffle=True
)

"""
## Evaluate

Hidden sigmoid units count as active above 0.5.
"""

reconstructions = autoencoder.predict(x_test, batch_size=1024, verbose=0)
encoder = keras.Model(inputs, codes)
test_codes = encoder.predict(x_test, batch_size=1024, verbose=0)
print(f"test MSE: {np.mean((reconstructions - x_test) ** 2):.4f}")
print(
    f"active units per image: {np.mean(np.sum(test_codes > 0.5, axis=1)):.1f}"
)

os.makedirs(OUT, exist_ok=True)
kernel = keras.ops.convert_to_numpy(autoencoder.get_layer("encoder").kernel)
sk.visualize.save_filters(f"{OUT}/filters.png", kernel[:, :100])
sk.visualize.save_reconstructions(
    f"{OUT}/reconstructions.png", x_test[:10], reconstructions[:10]
)
sk.visualize.save_cost_curve(f"{OUT}/cost.png", history.history["loss"])
print(f"pictures written to {OUT}/")
