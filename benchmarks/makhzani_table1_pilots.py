"""Pilots behind the defaults of `sparsekeras makhzani-table1`.

    python -m benchmarks.makhzani_table1_pilots --data PATH start
    python -m benchmarks.makhzani_table1_pilots --data PATH pilot \
        --epochs 60 [--zero-decoder-bias]
    python -m benchmarks.makhzani_table1_pilots --data PATH speed

`start` trains 2 epochs (k annealed as for the 150-epoch schedule) from a
zero and from a mean-image decoder bias and counts, on the 10,000
validation images, the units that are never positive and never among the
25 or 100 largest. `pilot` trains one model and prints the validation
error of the probe at every alpha and the dead fraction; it never looks at
the test images. `speed` times one epoch (after a warm-up) with 1 and 40
steps per execution, and with batches of 256 and 512. Results:
`docs/makhzani-table1.md`.
"""

import argparse
import json
import time

import keras
import numpy as np

from sparsekeras.losses import SquaredErrorCost
from sparsekeras.studies import instruments
from sparsekeras.studies import makhzani_table1 as table1


def _train(x_train, epochs, anneal_epochs, mean_bias):
    keras.utils.set_random_seed(0)
    steps = -(-len(x_train) // table1.BATCH_SIZE)
    model = table1.build_autoencoder(
        anneal_steps=anneal_epochs * steps,
        decoder_bias=x_train.mean(0) if mean_bias else None,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(
            table1.LEARNING_RATE, momentum=table1.MOMENTUM
        ),
        loss=SquaredErrorCost(1.0),
        steps_per_execution=table1._steps_per_execution(),
    )
    history = model.fit(
        x_train,
        x_train,
        batch_size=table1.BATCH_SIZE,
        epochs=epochs,
        verbose=0,
    )
    return model, history.history["loss"]


def start(x_train, x_valid):
    for mean_bias in (False, True):
        model, loss = _train(x_train, 2, 75, mean_bias)
        hidden = table1.hidden_units(model, x_valid)
        order = np.argsort(-hidden, axis=1)
        result = {"decoder_bias": "mean" if mean_bias else "zero"}
        for k in (25, 100):
            wins = np.bincount(order[:, :k].ravel(), minlength=table1.UNITS)
            result[f"never_in_top_{k}"] = float(np.mean(wins == 0))
        result["never_positive"] = float(np.mean(hidden.max(0) <= 0))
        result["loss"] = [round(v, 2) for v in loss]
        print(json.dumps(result), flush=True)


def pilot(x_train, y_train, x_valid, y_valid, epochs, mean_bias):
    began = time.perf_counter()
    model, loss = _train(x_train, epochs, epochs // 2, mean_bias)
    result = {"epochs": epochs, "decoder_bias": "mean" if mean_bias else "zero"}
    result["training_s"] = time.perf_counter() - began
    result["loss"] = loss[-1]
    h_train = table1.hidden_units(model, x_train)
    h_valid = table1.hidden_units(model, x_valid)
    result["dead_fraction_validation"] = float(
        instruments.dead_unit_fraction(table1.alpha_k_codes(h_valid, 1))
    )
    for alpha in table1.ALPHAS:
        probe = table1.fit_probe(table1.alpha_k_codes(h_train, alpha), y_train)
        result[f"validation_error_alpha_{alpha}"] = 1.0 - probe.accuracy(
            table1.alpha_k_codes(h_valid, alpha), y_valid
        )
    print(json.dumps(result), flush=True)


def speed(x_train):
    for batch_size, per_execution in (
        (128, 1),
        (128, 40),
        (256, 40),
        (512, 40),
    ):
        keras.utils.set_random_seed(0)
        model = table1.build_autoencoder(anneal_steps=10**6)
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss=SquaredErrorCost(1.0),
            steps_per_execution=per_execution,
        )
        warm_up = x_train[: 2 * batch_size * per_execution]
        model.fit(warm_up, warm_up, batch_size=batch_size, verbose=0)
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(x_train, x_train, batch_size=batch_size, verbose=0)
        result = {
            "batch_size": batch_size,
            "steps_per_execution": per_execution,
            "epoch_wall_s": time.perf_counter() - wall,
            "epoch_cpu_s": time.process_time() - cpu,
        }
        print(json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="full MNIST .npz")
    parser.add_argument("what", choices=("start", "pilot", "speed"))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--zero-decoder-bias", action="store_true")
    args = parser.parse_args()
    (x, y), _ = table1.load_full_mnist(args.data)
    n = table1.TRAIN_IMAGES
    if args.what == "start":
        start(x[:n], x[n:])
    elif args.what == "speed":
        speed(x[:n])
    else:
        pilot(
            x[:n], y[:n], x[n:], y[n:], args.epochs, not args.zero_decoder_bias
        )


if __name__ == "__main__":
    main()
