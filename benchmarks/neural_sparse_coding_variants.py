"""Case (d) of the comparison under other rates and decodings.

Why (d) does not behave as the original comparison saw it: the `original`
preset's (d) (a `NeuralSparseCoding` dictionary, rate 0.1, one-step
decoding, started from data) beside a slower rate and a decoding refined
toward least squares, and the original comparison's own update, each
trained as `sparsekeras compare` trains (d) on the embedded sample (100
epochs, batches of 100), and measured as the report measures it:

    python -m benchmarks.neural_sparse_coding_variants [--epochs 100]
        [--rows 1,2,3,4]

The original's update, re-expressed here and not in the library: 100
atoms drawn from N(0, 0.05²), codes `h = xW` kept where `h ≥ τ`, τ the
batch mean of each row's 50 largest values, reconstruction `codes·Wᵀ`, and
`ΔW = (Σ_batch (x − x̂))ᵀ (Σ_batch sign(codes))`, a rank-one step, applied
through the original's Adam at 8e-4 (`k_sparse_variants.OriginalAdamRate`)
by a zero-valued loss whose gradient is `−ΔW`.

Prints a Markdown table: test MSE, convergence epoch, stroke filters,
class selectivity, the pixel reader on the reconstructions, and the
training time.
"""

import argparse
import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from keras import ops  # noqa: E402

from benchmarks.k_sparse_variants import OriginalAdamRate  # noqa: E402
from sparsekeras.losses import SquaredErrorCost  # noqa: E402
from sparsekeras.studies import instruments  # noqa: E402
from sparsekeras.studies.five_cases import cases, presets, run  # noqa: E402
from sparsekeras.studies.five_cases.cases import build_case  # noqa: E402

KEY = "neural_sparse_coding"
VARIANTS = {
    "`original` preset: rate 0.1, one-step decoding": {},
    "rate 0.01": {"learning_rate": 0.01},
    "rate 0.1, 5 refinement steps": {"refine_steps": 5},
    "the original's update (batch-summed, through its Adam)": None,
}


class BatchMeanThreshold(keras.layers.Layer):
    """`h = xW` kept where `h ≥` the batch mean of the rows' top values."""

    def __init__(self, units, top, **kwargs):
        super().__init__(**kwargs)
        self.units, self.top = units, top

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer=keras.initializers.RandomNormal(stddev=0.05),
            name="kernel",
        )

    def call(self, x):
        h = ops.matmul(x, ops.stop_gradient(self.kernel))
        threshold = ops.mean(ops.top_k(h, self.top)[0])
        return h * ops.cast(h >= threshold, h.dtype)


class BatchSummedUpdate(keras.layers.Layer):
    """`codes·Wᵀ`, and a zero loss whose gradient in `W` is `−ΔW`."""

    def __init__(self, coding, **kwargs):
        super().__init__(**kwargs)
        self.coding = coding

    def call(self, inputs):
        codes, x = inputs
        kernel = self.coding.kernel
        reconstruction = ops.matmul(
            codes, ops.transpose(ops.stop_gradient(kernel))
        )
        residual = ops.stop_gradient(ops.sum(x - reconstruction, axis=0))
        used = ops.stop_gradient(ops.sum(ops.sign(codes), axis=0))
        surrogate = -ops.sum(residual[:, None] * kernel * used[None, :])
        self.add_loss(surrogate - ops.stop_gradient(surrogate))
        return reconstruction


def original_update_case():
    """The original comparison's (d), compiled."""
    inputs = keras.Input(shape=(cases.INPUT_DIM,), name="image")
    coding = BatchMeanThreshold(100, 50, name=cases.CODES)
    codes = coding(inputs)
    outputs = BatchSummedUpdate(coding, name="decoder")([codes, inputs])
    model = keras.Model(inputs, outputs, name=KEY)
    model.compile(
        optimizer=keras.optimizers.Adam(OriginalAdamRate(8e-4)),
        loss=SquaredErrorCost(0.5),
    )
    return cases.BuiltCase(KEY, model, 0.0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument(
        "--rows", default="1,2,3,4", help="which rows to run, from 1"
    )
    args = parser.parse_args(argv)
    rows = {int(row) for row in args.rows.split(",")}
    (x_train, y_train), (x_test, y_test), _ = run._load("embedded")
    data = (x_train, y_train, x_test, y_test)
    reader = instruments.NearestNeighbourReader(x_train, y_train)
    batch = presets.ORIGINAL.batch_size
    steps = -(-len(x_train) // batch)
    print(
        "| (d) variant | test MSE | converged (epoch) | stroke filters | "
        "class selectivity | pixel reader | training (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row, (name, changes) in enumerate(VARIANTS.items(), start=1):
        if row not in rows:
            continue
        keras.utils.set_random_seed(0)
        if changes is None:
            case = original_update_case()
        else:
            settings = dataclasses.replace(
                presets.ORIGINAL.cases[KEY], **changes
            )
            case = build_case(KEY, settings, training_steps=steps * args.epochs)
        costs, seconds = run.fit(case, x_train, args.epochs, batch, 0)
        m = run.measure(case, data, reader)
        print(
            f"| {name} | {m['reconstruction_mse']:.4f} | "
            f"{instruments.convergence_epoch(costs)} | "
            f"{m['stroke_fraction']:.0%} | {m['class_selectivity']:.3f} | "
            f"{m['reader_accuracy']:.1%} | {seconds:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
