"""
Title: Autoencoder with weight decay on MNIST
Author: The sparsekeras authors
Date created: 2026/11/24
Last modified: 2026/12/07
Description: Case (b): the plain autoencoder with L2 weight decay, UFLDL style.
"""

"""
## Introduction

The plain autoencoder of case (a) with weight decay on both kernels, in
the convention of Ng's sparse autoencoder notes: (λ/2)·ΣW² with λ = 3e-3,
which is `sk.regularizers.WeightDecay(3e-3)`, the same as Keras's
`L2(1.5e-3)`. Weight decay keeps the weights small, but nothing makes the
code sparse.

This script trains case (b) of sparsekeras's five-case comparison and
writes its three pictures into `case_b/`: the learned filters (with and
without per-filter contrast normalisation), originals above their
reconstructions, and the cost per epoch. `--epochs` and `--out` change the
length of the run and the folder.
"""

"""
## The settings

They are the original comparison's (Jae Duk Seo, "Comparing different
methods of achieving sparse coding in Tensorflow", 2018; its code for this
case is `b_auto_reg.py` in the folder
`Understanding_Concepts/Step_by_Step_Sparse/` of the repository
`JaeDukSeo/Daily-Neural-Network-Practice-2`), the ones
`sparsekeras compare --preset original` uses: 784-100-784 without biases,
weights drawn uniformly in ±√(6 / (784 + 100 + 1)), the first 10,000
training images (pixels / 255), batches of 100, and Adam at 1e-3 on the
cost ½‖x − x̂‖² of each image, averaged over the batch, plus the weight
decay λ = 3e-3 on both matrices. The original trained for 500 epochs and
`sparsekeras compare` trains for 100; this script trains for 50 by default
(`--epochs 500` for the original length). It computes in float32 with
Keras's Adam, where the original used float64 and an Adam of its own.
"""

"""
## Setup

The command line is read first, so that `--help` answers at once, before
Keras starts its backend.
"""

import argparse

parser = argparse.ArgumentParser(
    description="Case (b): the plain autoencoder with L2 weight decay, "
    "UFLDL style."
)
parser.add_argument(
    "--epochs",
    type=int,
    default=50,
    help="training epochs (default: 50; the original trained for 500)",
)
parser.add_argument(
    "--out",
    default="case_b",
    help="folder for the three pictures (default: case_b)",
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

Both kernels start uniform in ±√(6 / (fan_in + fan_out + 1)), UFLDL's
initialisation, and neither layer has a bias. Each kernel gets its own
`WeightDecay`, whose (λ/2)·ΣW² Keras adds to the cost.
"""

limit = math.sqrt(6.0 / (784 + UNITS + 1))
inputs = keras.Input(shape=(784,))
codes = keras.layers.Dense(
    UNITS,
    activation="sigmoid",
    use_bias=False,
    kernel_initializer=keras.initializers.RandomUniform(-limit, limit),
    kernel_regularizer=sk.regularizers.WeightDecay(WEIGHT_DECAY),
    name="encoder",
)(inputs)
outputs = keras.layers.Dense(
    784,
    activation="sigmoid",
    use_bias=False,
    kernel_initializer=keras.initializers.RandomUniform(-limit, limit),
    kernel_regularizer=sk.regularizers.WeightDecay(WEIGHT_DECAY),
)(codes)
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

Hidden sigmoid units count as active above 0.5. A unit is dead when its
activation barely varies over the test images (`instruments.dead_units`):
a sigmoid unit stuck near 0 or 1 tells the images apart no better than a
k-sparse unit that never wins.
"""

reconstructions = autoencoder.predict(x_test, batch_size=1000, verbose=0)
encoder = keras.Model(inputs, codes)
test_codes = encoder.predict(x_test, batch_size=1000, verbose=0)
print(f"test MSE: {np.mean((reconstructions - x_test) ** 2):.4f}")
print(
    f"active units per image: {np.mean(np.sum(test_codes > 0.5, axis=1)):.1f}"
)
print(f"dead units: {instruments.dead_unit_fraction(test_codes):.0%}")

os.makedirs(OUT, exist_ok=True)
kernel = keras.ops.convert_to_numpy(autoencoder.get_layer("encoder").kernel)
pictures.save_filters(f"{OUT}/filters.png", kernel)
pictures.save_reconstructions(
    f"{OUT}/reconstructions.png", x_test[:10], reconstructions[:10]
)
pictures.save_cost_curve(
    f"{OUT}/cost.png",
    history.history["loss"],
    ylabel="½‖x − x̂‖² per image + weight decay",
    title="(b) training cost per epoch",
)
print(f"pictures written to {OUT}/")
