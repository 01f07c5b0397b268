"""Case (d) of the comparison under other rates and decodings.

Why (d) does not behave as the original comparison saw it: the `original`
preset's (d) (a `NeuralSparseCoding` dictionary, rate 0.1, one-step
decoding, started from data) beside a slower rate and a decoding refined
toward least squares, each trained as `sparsekeras compare` trains (d) on
the embedded sample (100 epochs, batches of 100), and measured as the
report measures it:

    python -m benchmarks.neural_sparse_coding_variants [--epochs 100]

Prints a Markdown table: test MSE, convergence epoch, stroke filters,
class selectivity, the pixel reader on the reconstructions, and the
training time.
"""

import argparse
import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from sparsekeras import metrics  # noqa: E402
from sparsekeras.comparison import presets, run  # noqa: E402
from sparsekeras.comparison.cases import build_case  # noqa: E402

KEY = "neural_sparse_coding"
VARIANTS = {
    "`original` preset: rate 0.1, one-step decoding": {},
    "rate 0.01": {"learning_rate": 0.01},
    "rate 0.1, 5 refinement steps": {"refine_steps": 5},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test), _ = run._load("embedded")
    data = (x_train, y_train, x_test, y_test)
    reader = metrics.NearestNeighbourReader(x_train, y_train)
    batch = presets.ORIGINAL.batch_size
    steps = -(-len(x_train) // batch)
    print(
        "| (d) variant | test MSE | converged (epoch) | stroke filters | "
        "class selectivity | pixel reader | training (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, changes in VARIANTS.items():
        settings = dataclasses.replace(presets.ORIGINAL.cases[KEY], **changes)
        keras.utils.set_random_seed(0)
        case = build_case(KEY, settings, training_steps=steps * args.epochs)
        costs, seconds = run.fit(case, x_train, args.epochs, batch, 0)
        m = run.measure(case, data, reader)
        print(
            f"| {name} | {m['reconstruction_mse']:.4f} | "
            f"{metrics.convergence_epoch(costs)} | "
            f"{m['stroke_fraction']:.0%} | {m['class_selectivity']:.3f} | "
            f"{m['reader_accuracy']:.1%} | {seconds:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
