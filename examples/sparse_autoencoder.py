"""
Title: A TopK sparse autoencoder on the activations of an MNIST classifier
Author: The sparsekeras authors
Date created: 2026/11/29
Last modified: 2026/12/07
Description: Train an MLP, then read its hidden layer with a TopK SAE.
"""

"""
## Introduction

Sparse autoencoders (SAEs) are how interpretability research reads the
activations of a trained network: each activation vector is rewritten as
a sparse sum of learned directions, the SAE's *latents*, which are often
easier to name than the network's own units (Gao et al., "Scaling and
evaluating sparse autoencoders", 2024, arXiv:2406.04093).

This script trains a small MLP on MNIST, collects its hidden activations,
trains a `SparseAutoencoder` on them (TopK, with every mitigation against
dead latents on), then reads it: how well it reconstructs, how many
latents are dead, and which digits make each latent fire, and saves the
SAE into `sparse_autoencoder/`. `--epochs`, `--samples` and `--out` change
the length of the run, the training images used and the folder.
"""

"""
## Setup

The command line is read first, so that `--help` answers at once, before
Keras starts its backend.
"""

import argparse

parser = argparse.ArgumentParser(
    description="Train an MLP, then read its hidden layer with a TopK SAE."
)
parser.add_argument(
    "--epochs",
    type=int,
    default=5,
    help="training epochs of the MLP and of the SAE (default: 5)",
)
parser.add_argument(
    "--samples",
    type=int,
    default=None,
    help="train on the first SAMPLES training images (default: all)",
)
parser.add_argument(
    "--out",
    default="sparse_autoencoder",
    help="folder for the trained SAE (default: sparse_autoencoder)",
)
args = parser.parse_args()

import os

import keras
import numpy as np

import sparsekeras as sk

EPOCHS = args.epochs
SAMPLES = args.samples
OUT = args.out
HIDDEN, LATENTS, K = 128, 512, 8
keras.utils.set_random_seed(0)

"""
## Prepare the data

`load_mnist` reads Keras's MNIST when it can, else the sample of real
MNIST shipped inside sparsekeras.
"""

(x_train, y_train), (x_test, y_test) = sk.datasets.load_mnist()
x_train = x_train.reshape(-1, 784).astype("float32")[:SAMPLES] / 255.0
y_train = y_train[:SAMPLES]
x_test = x_test.reshape(-1, 784).astype("float32") / 255.0

"""
## Train the model to be read

A one-hidden-layer MLP; its ReLU layer is what the SAE will read.
"""

inputs = keras.Input((784,))
hidden = keras.layers.Dense(HIDDEN, activation="relu", name="hidden")(inputs)
outputs = keras.layers.Dense(10, activation="softmax")(hidden)
classifier = keras.Model(inputs, outputs)
classifier.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
classifier.fit(x_train, y_train, batch_size=128, epochs=EPOCHS, verbose=2)
_, accuracy = classifier.evaluate(x_test, y_test, verbose=0)
print(f"MLP test accuracy: {accuracy:.3f}")

reader = keras.Model(inputs, hidden)
activations = reader.predict(x_train, batch_size=1024, verbose=0)
test_activations = reader.predict(x_test, batch_size=1024, verbose=0)

"""
## Train the sparse autoencoder

`adapt` sets the pre-encoder bias to the activations' geometric median.
`fit` takes the activations alone and logs the fraction of variance
unexplained (`fvu`), the latents per sample (`l0`), and the fraction of
latents that have not fired for `dead_after` samples (`dead_fraction`).
"""

sae = sk.models.SparseAutoencoder(
    units=LATENTS, k=K, dead_after=len(activations)
)
sae.adapt(activations)
sae.compile(optimizer=keras.optimizers.Adam(1e-3))
sae.fit(activations, batch_size=256, epochs=EPOCHS, verbose=2)

"""
## Evaluate: reconstruction and dead latents

The MLP should classify almost as well from the SAE's reconstruction of
its hidden layer as from the layer itself.

A latent is dead, in `SparseAutoencoder`'s sense, when it has fired on
none of the last `dead_after` training samples: the weight
`samples_since_fired` counts the samples since each latent last fired in
training, and it starts again from 0 each time the latent fires once.
Here `dead_after` is one epoch of training samples, so a latent that fired
on a single training image in the last epoch is alive.
"""

logs = sae.evaluate(test_activations, verbose=0, return_dict=True)
print(f"SAE test FVU: {logs['fvu']:.3f}")
dead = keras.ops.convert_to_numpy(sae.samples_since_fired) >= sae.dead_after
print(
    f"dead latents: {dead.sum()} of {LATENTS} (fired on none of the last "
    f"{sae.dead_after:,} training samples)"
)

head = keras.Model(hidden, outputs)
spliced = head.predict(sae.predict(test_activations, verbose=0), verbose=0)
print(
    f"MLP accuracy through the SAE: {np.mean(spliced.argmax(1) == y_test):.3f}"
)

"""
## Read the features

For each latent: how often it fires on the test set, and the digit on
which it fires most often. A latent that fires mostly for one digit is a
digit feature; the others read strokes shared by several digits.

More latents may fire on no test image than are dead: a rare latent
that fires on a few training images is alive by the rule above, yet can
miss every test image. The last lines count both, and how many of the
latents silent on the test images still fire on some training image.
"""

codes = keras.ops.convert_to_numpy(sae.encode(test_activations))
fires = codes > 0
frequency = fires.mean(axis=0)
by_digit = np.stack([fires[y_test == d].mean(axis=0) for d in range(10)])
purity = by_digit.max(axis=0) / np.maximum(by_digit.sum(axis=0), 1e-12)
for latent in np.argsort(-frequency)[:10]:
    print(
        f"latent {latent:3d}: fires on {frequency[latent]:.1%} of images, "
        f"mostly digit {by_digit[:, latent].argmax()} "
        f"(purity {purity[latent]:.2f})"
    )
silent = frequency == 0
on_train = keras.ops.convert_to_numpy(sae.encode(activations)) > 0
print(
    f"latents firing on no test image: {silent.sum()}; of these, "
    f"{np.sum(silent & on_train.any(axis=0))} fire on some training image "
    "(rare, not dead)"
)

"""
## Save

Saved models load in another process after `import sparsekeras`, which
registers the `SparseAutoencoder` class with Keras.
"""

os.makedirs(OUT, exist_ok=True)
sae.save(f"{OUT}/sae.keras")
print(f"SAE saved to {OUT}/sae.keras")
