"""
Title: Neural sparse coding on MNIST
Author: The sparsekeras authors
Date created: 2026/11/24
Last modified: 2026/12/07
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
reconstructions, and the cost per epoch. `--epochs` and `--out` change the
length of the run and the folder.
"""

"""
## The settings

They follow the original comparison (Jae Duk Seo, "Comparing different
methods of achieving sparse coding in Tensorflow", 2018; its code for this
case is `d_simple_efficient.py` in the folder
`Understanding_Concepts/Step_by_Step_Sparse/` of the repository
`JaeDukSeo/Daily-Neural-Network-Practice-2`) as
`sparsekeras compare --preset original` does: 100 atoms of 784 pixels, tied
(the codes are `Aᵀy`, the reconstruction `Ax`), the first 10,000 training
images (pixels / 255), batches of 100, k = 25 atoms per image, rate η =
0.1, and a dictionary started from normalised training images. The original
kept the units above a threshold shared by the batch (the mean of each
image's 50 largest values) and fed a batch-summed update through Adam; the
layer keeps exactly k atoms per image and applies its own neural rule. The
original trained for 500 epochs and `sparsekeras compare` trains for 100;
this script trains for 50 by default (`--epochs 500` for the original
length).
"""

"""
## Setup

The command line is read first, so that `--help` answers at once, before
Keras starts its backend.
"""

import argparse

parser = argparse.ArgumentParser(
    description="Case (d): a dictionary learned by a neural update, "
    "not backprop."
)
parser.add_argument(
    "--epochs",
    type=int,
    default=50,
    help="training epochs (default: 50; the original trained for 500)",
)
parser.add_argument(
    "--out",
    default="case_d",
    help="folder for the three pictures (default: case_d)",
)
args = parser.parse_args()

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
LEARNING_RATE = 0.1
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

Raw pixels are all positive, so the atoms look alike and `Aᵀy` overshoots
at the layer's default rate of 1.0: 0.1 learns steadily.
"""

inputs = keras.Input(shape=(784,))
coding = sk.layers.NeuralSparseCoding(
    UNITS, k=K, learning_rate=LEARNING_RATE, output_mode="reconstruction"
)
autoencoder = keras.Model(inputs, coding(inputs))
autoencoder.compile(loss=sk.losses.SquaredErrorCost())

"""
## Start from data

The algorithm needs a start close to the truth; the paper's is built from
samples. `adapt` is its practical analogue, in the idiom of Keras's
preprocessing layers: it sets the atoms to `UNITS` distinct training
images, each divided by its norm. Such atoms are alike, so `Aᵀy` overshoots
at first and the first epoch's cost is in the thousands; the neural update
pulls the atoms apart within a few epochs (on the first 10,000 images of
full MNIST, epoch costs 4,137 then 9.9 on TensorFlow; 5,524, 1,162 then 9.6
on JAX). The update does not minimise that cost, so it need not keep
falling afterwards.
"""

coding.adapt(x_train)

"""
## Train
"""

history = autoencoder.fit(
    x_train, x_train, epochs=EPOCHS, batch_size=BATCH_SIZE, shuffle=True
)

"""
## Evaluate

`encode` gives the codes of any images without touching the dictionary. An
atom is dead when its code barely varies over the test images
(`instruments.dead_units`), as an atom that no image uses.
"""

reconstructions = autoencoder.predict(x_test, batch_size=1000, verbose=0)
test_codes = keras.ops.convert_to_numpy(coding.encode(x_test))
print(f"test MSE: {np.mean((reconstructions - x_test) ** 2):.4f}")
print(f"active units per image: {np.mean(np.sum(test_codes != 0, axis=1)):.1f}")
print(f"dead units: {instruments.dead_unit_fraction(test_codes):.0%}")

os.makedirs(OUT, exist_ok=True)
atoms = keras.ops.convert_to_numpy(coding.dictionary)
pictures.save_filters(f"{OUT}/filters.png", atoms)
pictures.save_reconstructions(
    f"{OUT}/reconstructions.png", x_test[:10], reconstructions[:10]
)
pictures.save_cost_curve(
    f"{OUT}/cost.png",
    history.history["loss"],
    ylabel="½‖x − x̂‖² per image",
    title="(d) training cost per epoch",
)
print(f"pictures written to {OUT}/")
