"""
Title: k-sparse autoencoder on MNIST
Author: The sparsekeras authors
Date created: 2026/11/24
Last modified: 2026/11/24
Description: Case (e): keep only the k largest hidden units of each image.
"""

"""
## Introduction

Makhzani and Frey's k-sparse autoencoder ("k-Sparse Autoencoders", 2013,
arXiv:1312.5663) has a linear hidden layer followed by one nonlinearity:
keep the k largest hidden units of each example and set the others to zero.
Training starts with a larger k (here 100) and lowers it linearly to the
target (here 25) over the first half of training, so that no unit dies
before it has learned something.

This script trains the case (e) of sparsekeras's five-case comparison and
writes its three pictures into `case_e/`: the learned filters (with and
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
K, K_START = 25, 100
OUT = "case_e"
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

The schedule counts training steps: half of training is
`EPOCHS * steps_per_epoch // 2` steps.
"""

steps_per_epoch = -(-len(x_train) // BATCH_SIZE)
inputs = keras.Input(shape=(784,))
hidden = keras.layers.Dense(UNITS, name="encoder")(inputs)
codes = sk.layers.KSparse(
    K, k_start=K_START, anneal_steps=EPOCHS * steps_per_epoch // 2
)(hidden)
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

At inference KSparse keeps `round(alpha * k)` units (alpha is 1 here).
"""

reconstructions = autoencoder.predict(x_test, batch_size=1024, verbose=0)
encoder = keras.Model(inputs, codes)
test_codes = encoder.predict(x_test, batch_size=1024, verbose=0)
print(f"test MSE: {np.mean((reconstructions - x_test) ** 2):.4f}")
print(f"active units per image: {np.mean(np.sum(test_codes != 0, axis=1)):.1f}")

os.makedirs(OUT, exist_ok=True)
kernel = keras.ops.convert_to_numpy(autoencoder.get_layer("encoder").kernel)
sk.visualize.save_filters(f"{OUT}/filters.png", kernel[:, :100])
sk.visualize.save_reconstructions(
    f"{OUT}/reconstructions.png", x_test[:10], reconstructions[:10]
)
sk.visualize.save_cost_curve(f"{OUT}/cost.png", history.history["loss"])
print(f"pictures written to {OUT}/")
