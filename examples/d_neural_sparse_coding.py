"""
Title: Neural sparse coding on MNIST
Author: The sparsekeras authors
Date created: 2026/11/24
Last modified: 2026/11/24
Description: Case (d): a dictionary learned by a neural update, not backprop.
"""

"""
## Introduction

Arora, Ge, Ma and Moitra ("Simple, Efficient, and Neural Algorithms for
Sparse Coding", 2015, arXiv:1503.00778) learn a dictionary `A` whose unit
columns, the atoms, combine sparsely into the data. Each image `y` is
decoded in one step, `x = hard_threshold(Aᵀy)` (here: keep the k entries of
largest magnitude), and each batch moves the dictionary by the neural
update `A ← A + η·mean((y − Ax)·sign(x)ᵀ)`, atoms renormalised.

`sk.layers.NeuralSparseCoding` is that algorithm as a Keras layer. Nothing
reaches its dictionary through gradients: the update is a variable
assignment inside the layer's training call, so an ordinary `model.fit`
learns it. With `output_mode="reconstruction"` the layer outputs `Ax`, and
the loss compiled below is only measured, to draw the cost curve; the model
has no trainable weights, which Keras mentions with a warning.

This script trains case (d) of sparsekeras's five-case comparison and
writes its three pictures into `case_d/`: the learned atoms (with and
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
K = 25
LEARNING_RATE = 0.1
OUT = "case_d"
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

Raw pixels are all positive, so the atoms start to look alike and `Aᵀy`
overshoots at the layer's default rate of 1.0: 0.1 learns steadily.
"""

inputs = keras.Input(shape=(784,))
coding = sk.layers.NeuralSparseCoding(
    UNITS, k=K, learning_rate=LEARNING_RATE, output_mode="reconstruction"
)
autoencoder = keras.Model(inputs, coding(inputs))


def squared_error_cost(y_true, y_pred):
    """UFLDL's reconstruction cost of one image: (1/2)·Σ (x − x̂)²."""
    return 0.5 * keras.ops.sum(keras.ops.square(y_true - y_pred), axis=-1)


autoencoder.compile(loss=squared_error_cost)

"""
## Train
"""

history = autoencoder.fit(
    x_train, x_train, epochs=EPOCHS, batch_size=BATCH_SIZE, shuffle=True
)

"""
## Evaluate

`encode` gives the codes of any images without touching the dictionary.
"""

reconstructions = autoencoder.predict(x_test, batch_size=1024, verbose=0)
test_codes = keras.ops.convert_to_numpy(coding.encode(x_test))
print(f"test MSE: {np.mean((reconstructions - x_test) ** 2):.4f}")
print(f"active units per image: {np.mean(np.sum(test_codes != 0, axis=1)):.1f}")

os.makedirs(OUT, exist_ok=True)
atoms = keras.ops.convert_to_numpy(coding.dictionary)
sk.visualize.save_filters(f"{OUT}/filters.png", atoms[:, :100])
sk.visualize.save_reconstructions(
    f"{OUT}/reconstructions.png", x_test[:10], reconstructions[:10]
)
sk.visualize.save_cost_curve(f"{OUT}/cost.png", history.history["loss"])
print(f"pictures written to {OUT}/")
