"""Case (e) of the comparison trained as the original's code trained it.

Does (e) converge fastest if it is trained exactly as the original
comparison's code trained it? The `original` preset's (e) (`KSparse(25)`,
exactly 25 per row, a `TiedDense` decoder, Keras's Adam) beside the
original's three differences, alone and together:

- **decoder path**: the original's gradient of the tied kernel is the
  decoder's alone, `(x̂ − x)ᵀ z / batch`; the encoder's use of the kernel
  gets none (here, the encoder reads the kernel through `stop_gradient`);
- **batch threshold**: it kept every unit at or above the batch's smallest
  25th-largest value, so a row may keep more than 25;
- **original Adam**: its hand-written Adam divided the moments by
  `1 − β` instead of `1 − βᵗ`; Keras's Adam with the rate
  `lr·(√(1 − β₂) / (1 − β₁))·(1 − β₁ᵗ) / √(1 − β₂ᵗ)` takes the same steps
  (to ε's placement), about 0.32·lr once t is in the thousands.

and (c), the case (e) must beat, with Keras's and with the original's
Adam. Each is trained as `sparsekeras compare` trains it (the first 10,000
training images, batches of 100) and its convergence epoch is the report's
(the first epoch whose cost is within 5% of the case's final cost):

    python -m benchmarks.k_sparse_variants [--epochs 100] [--data PATH]

Prints a Markdown table: convergence epoch, test MSE, the cost after the
first and the last epoch, and the training time.
"""

import argparse
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from sparsekeras.layers import KSparse, TiedDense  # noqa: E402
from sparsekeras.losses import SquaredErrorCost  # noqa: E402
from sparsekeras.regularizers import WeightDecay  # noqa: E402
from sparsekeras.studies import instruments  # noqa: E402
from sparsekeras.studies.five_cases import cases, presets, run  # noqa: E402

SETTINGS = presets.ORIGINAL.cases["k_sparse"]


class OriginalAdamRate(keras.optimizers.schedules.LearningRateSchedule):
    """Keras's Adam at this rate steps as the original's hand-written one."""

    def __init__(self, rate, beta_1=0.9, beta_2=0.999):
        self.rate, self.beta_1, self.beta_2 = rate, beta_1, beta_2

    def __call__(self, step):
        t = ops.cast(step, "float32") + 1.0
        constant = math.sqrt(1.0 - self.beta_2) / (1.0 - self.beta_1)
        corrections = (1.0 - ops.power(self.beta_1, t)) / ops.sqrt(
            1.0 - ops.power(self.beta_2, t)
        )
        return self.rate * constant * corrections

    def get_config(self):
        return {
            "rate": self.rate,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
        }


class DecoderPathEncoder(keras.layers.Layer):
    """`x W` without a gradient to `W`: only the tied decoder trains it."""

    def __init__(self, units, decoder_path, **kwargs):
        super().__init__(**kwargs)
        self.units, self.decoder_path = units, decoder_path

    def build(self, input_shape):
        limit = math.sqrt(6.0 / (input_shape[-1] + self.units + 1))
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer=keras.initializers.RandomUniform(-limit, limit),
            regularizer=WeightDecay(SETTINGS.weight_decay),
            name="kernel",
        )

    def call(self, x):
        kernel = self.kernel
        if self.decoder_path:
            kernel = ops.stop_gradient(kernel)
        return ops.matmul(x, kernel)


class BatchThreshold(keras.layers.Layer):
    """Keeps `h ≥` the batch's smallest k-th largest value of a row."""

    def __init__(self, k, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def call(self, h):
        kth = ops.top_k(h, self.k)[0][:, -1]
        return h * ops.cast(h >= ops.min(kth), h.dtype)


def original_k_sparse(decoder_path, batch_threshold):
    """(e) with the original's gradient and (or) mask, or neither."""
    inputs = keras.Input(shape=(cases.INPUT_DIM,), name="image")
    encoder = DecoderPathEncoder(
        SETTINGS.units, decoder_path, name=cases.ENCODER
    )
    if batch_threshold:
        selection = BatchThreshold(SETTINGS.k, name=cases.CODES)
    else:
        selection = KSparse(SETTINGS.k, name=cases.CODES)
    outputs = TiedDense(encoder, use_bias=False, name="decoder")(
        selection(encoder(inputs))
    )
    model = keras.Model(inputs, outputs, name="k_sparse")
    return cases.BuiltCase("k_sparse", model, 0.0)


VARIANTS = {
    "(e), `original` preset": ("k_sparse", None),
    "(e), decoder path": ("k_sparse", dict(decoder_path=True)),
    "(e), batch threshold": ("k_sparse", dict(batch_threshold=True)),
    "(e), original Adam": ("k_sparse", "adam"),
    "(e), all three (the original's (e))": (
        "k_sparse",
        dict(decoder_path=True, batch_threshold=True, adam=True),
    ),
    "(c), `original` preset": ("kl_sparse", None),
    "(c), original Adam": ("kl_sparse", "adam"),
}


def build(key, variant, steps):
    """A compiled case: the preset's, or one of (e)'s original variants."""
    original_adam = variant == "adam" or (
        isinstance(variant, dict) and variant.get("adam", False)
    )
    if isinstance(variant, dict):
        case = original_k_sparse(
            variant.get("decoder_path", False),
            variant.get("batch_threshold", False),
        )
    else:
        case = cases.build_case(
            key, presets.ORIGINAL.cases[key], training_steps=steps
        )
    settings = presets.ORIGINAL.cases[key]
    rate = settings.learning_rate
    case.model.compile(
        optimizer=keras.optimizers.Adam(
            OriginalAdamRate(rate) if original_adam else rate
        ),
        loss=SquaredErrorCost(settings.cost_scale),
    )
    return case


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument(
        "--data", default="embedded", help="'embedded' or an .npz path"
    )
    args = parser.parse_args(argv)
    (x_train, _), (x_test, _), _ = run._load(args.data)
    x_train = x_train[: presets.ORIGINAL.train_images]
    batch = presets.ORIGINAL.batch_size
    steps = -(-len(x_train) // batch) * args.epochs
    print(
        "| variant | converged (epoch) | test MSE | cost, first epoch | "
        "cost, last epoch | training (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (key, variant) in VARIANTS.items():
        keras.utils.set_random_seed(0)
        case = build(key, variant, steps)
        costs, seconds = run.fit(case, x_train, args.epochs, batch, 0)
        reconstructions = case.model.predict(x_test, 1000, verbose=0)
        mse = float(np.mean((reconstructions - x_test) ** 2))
        print(
            f"| {name} | {instruments.convergence_epoch(costs)} | {mse:.4f} | "
            f"{costs[0]:.2f} | {costs[-1]:.2f} | {seconds:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
