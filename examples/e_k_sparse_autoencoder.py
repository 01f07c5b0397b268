"""
Title: k-sparse autoencoder on MNIST
Author: The sparsekeras authors
Date created: 2026/11/24
Last modified: 2026/12/07
Description: Case (e): keep only the k largest hidden units of each image.
"""

"""
## Introduction

Makhzani and Frey's k-sparse autoencoder ("k-Sparse Autoencoders", 2013,
arXiv:1312.5663) has a linear hidden layer followed by one nonlinearity:
keep the k largest hidden units of each example and set the others to zero.
Its decoder is tied: it reconstructs with the transpose of the encoder's
kernel, so each filter is also the pattern its unit adds back.

This script trains the case (e) of sparsekeras's five-case comparison and
writes its three pictures into `case_e/`: the learned filters (with and
without per-filter contrast normalisation), originals above their
reconstructions, and the cost per epoch. `--epochs` and `--out` change the
length of the run and the folder.
"""

"""
## The settings

They are the original comparison's (Jae Duk Seo, "Comparing different
methods of achieving sparse coding in Tensorflow", 2018; its code for this
case is `e_a_k_sparse.py` in the folder
`Understanding_Concepts/Step_by_Step_Sparse/` of the repository
`JaeDukSeo/Daily-Neural-Network-Practice-2`), the ones
`sparsekeras compare --preset original` uses: 784-100-784, linear, tied,
without biases, weights drawn uniformly in ±√(6 / (784 + 100 + 1)), k = 25
from the first step (no schedule), the first 10,000 training images (pixels
/ 255), batches of 100, and Adam at 1e-3 on the cost ½‖x − x̂‖² of each
image, averaged over the batch, plus the weight decay λ = 3e-3 on the
kernel. `KSparse` keeps exactly 25 units per image; the original kept every
unit above the smallest 25th-largest value of the batch, so some images
kept more. The original trained for 500 epochs and `sparsekeras compare`
trains for 100; this script trains for 50 by default (`--epochs 500` for
the original length). It computes in float32 with Keras's Adam, where the
original used float64 and an Adam of its own.
"""

"""
## Setup

The command line is read first, so that `--help` answers at once, before
Keras starts its backend.
"""

import argparse

parser = argparse.ArgumentParser(
    description="Case (e): keep only the k largest hidden units of each image."
)
parser.add_argument(
    "--epochs",
    type=int,
    default=50,
    help="training epochs (default: 50; the original trained for 500)",
)
parser.add_argument(
    "--out",
    default="case_e",
    help="folder for the three pictures (default: case_e)",
)
args = parser.parse_args()

import math
import os

import keras
import numpy as np

import sparsekeras as sk
from sparsekeras.studies import instruments, pictures

EPOCHS = args.epochs
TRAIN_IMAGES = 10_000
BATCH_SIZE = 100
UNITS = 100
K = 25
WEIGHT_DECAY = 3e-3
OUT = args.out
keras.utils.set_random_seed(0)

"""
## Prepare the data

`load_mnist` reads Keras's MNIST when it can, else the sample of real MNIST
shipped inside sparsekeras (9,000 training images, which are then all
used). Pixels are scaled to [0, 1] and flattened, not centred.
"""

(x_train, _), (x_test, _) = sk.datasets.load_mnist()
x_train = x_train[:TRAIN_IMAGES].reshape(-1, 784).astype("float32") / 255.0
x_test = x_test.reshape(-1, 784).astype("float32") / 255.0

"""
## Build the model

`TiedDense(encoder)` decodes with the encoder's very kernel, transposed:
the model holds one 784 × 100 matrix, and each gradient step moves it for
both. Its `WeightDecay`, (λ/2)·ΣW², is counted once.
"""

limit = math.sqrt(6.0 / (784 + UNITS + 1))
inputs = keras.Input(shape=(784,))
encoder = keras.layers.Dense(
    UNITS,
    use_bias=False,
    kernel_initializer=keras.initializers.RandomUniform(-limit, limit),
    kernel_regularizer=sk.regularizers.WeightDecay(WEIGHT_DECAY),
    name="encoder",
)
codes = sk.layers.KSparse(K)(encoder(inputs))
outputs = sk.layers.TiedDense(encoder, use_bias=False)(codes)
autoencoder = keras.Model(inputs, outputs)


autoencoder.compile(
    optimizer=keras.optimizers.Adam(1e-3), loss=sk.losses.SquaredErrorCost()
)

"""
## Train
"""

history = autoencoder.fit(
    x_train, x_train, epochs=EPOCHS, batch_size=BATCH_SIZE, shuffle=True
)

"""
## Evaluate

At inference KSparse keeps `round(alpha * k)` units (alpha is 1 here). A
unit is dead when its code barely varies over the test images
(`instruments.dead_units`), as a unit that is never among the k largest.
"""

reconstructions = autoencoder.predict(x_test, batch_size=1000, verbose=0)
code_model = keras.Model(inputs, codes)
test_codes = code_model.predict(x_test, batch_size=1000, verbose=0)
print(f"test MSE: {np.mean((reconstructions - x_test) ** 2):.4f}")
print(f"active units per image: {np.mean(np.sum(test_codes != 0, axis=1)):.1f}")
print(f"dead units: {instruments.dead_unit_fraction(test_codes):.0%}")

os.makedirs(OUT, exist_ok=True)
kernel = keras.ops.convert_to_numpy(encoder.kernel)
pictures.save_filters(f"{OUT}/filters.png", kernel)
pictures.save_reconstructions(
    f"{OUT}/reconstructions.png", x_test[:10], reconstructions[:10]
)
pictures.save_cost_curve(
    f"{OUT}/cost.png",
    history.history["loss"],
    ylabel="½‖x − x̂‖² per image + weight decay",
    title="(e) training cost per epoch",
)
print(f"pictures written to {OUT}/")
