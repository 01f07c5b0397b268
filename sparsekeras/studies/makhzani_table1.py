"""Makhzani & Frey's Table 1: k-sparse autoencoder features on MNIST.

`run_table1` is what `sparsekeras makhzani-table1` runs. It trains the
paper's MNIST model, a tied k-sparse autoencoder with 1000 linear hidden
units and `k = 25`, on the first 50,000 training images; chooses `alpha`
(the test-time encoding keeps the `alpha * k` largest units) by the
validation error of logistic regression on the remaining 10,000; fits
logistic regression on all 60,000 training images' codes with that
`alpha`, and reports its error on the 10,000 test images (the paper:
1.35%). Settings and deviations: `docs/makhzani-table1.md`.

`quick=True` (`--quick`) is a check that the command works, not a result:
a smaller split of any MNIST, by default the sample shipped in the
package, and fewer epochs, each stated in `result.json`'s deviations.
Its files reach the output folder only when the whole run has succeeded,
and replace only what an earlier run wrote there (`studies._output`).
"""

import os
import time

import keras
import numpy as np
from keras import ops

from sparsekeras.layers import KSparse, TiedDense
from sparsekeras.losses import SquaredErrorCost
from sparsekeras.studies import _output, instruments
from sparsekeras.studies._data import load_mnist_argument

TRAIN_IMAGES = 50_000
EPOCHS = 200
BATCH_SIZE = 128
UNITS = 1000
K = 25
K_START = 100
LEARNING_RATE = 0.01
MOMENTUM = 0.9
INIT_STDDEV = 0.01
ALPHAS = (1, 2, 3, 4)
PROBE_L2 = 3e-3
STEPS_PER_EXECUTION = 40
DEVIATIONS = {
    "epochs": "200 instead of thousands: the 20-minute budget on 2 CPU cores",
    "decoder_bias_init": "the mean training image instead of 0: from a "
    "zero start, 17% of the units are negative on every validation image "
    "after 2 epochs (0% from this start), and such units never win again",
    "probe_l2": "logistic regression with an L2 penalty of 3e-3 on "
    "standardised codes, chosen on the validation split",
    "loss_scale": "squared error summed over pixels, averaged over the "
    "batch: the paper does not say; learning rate 0.01 is stable with it",
    "steps_per_execution": "40 SGD steps per compiled call (1 on PyTorch): "
    "speed only, the same updates",
}
COMMAND = "makhzani-table1"
FILES = ("result.json", "model.keras")
QUICK_TRAIN_IMAGES = 7_500
QUICK_VALIDATION_IMAGES = 1_500
QUICK_EPOCHS = 10
QUICK_DEVIATIONS = {
    "quick": "a check that the command runs, not a result: "
    f"{QUICK_TRAIN_IMAGES:,} training and {QUICK_VALIDATION_IMAGES:,} "
    "validation images (the first of the training set given) instead of "
    "50,000 and 10,000, and by default the 9,000 / 2,000-image MNIST "
    "sample shipped in sparsekeras instead of full MNIST",
}


def build_autoencoder(
    *,
    units=UNITS,
    k=K,
    k_start=K_START,
    anneal_steps=0,
    decoder_bias=None,
    seed=0,
):
    """784 -> `units` linear -> `KSparse(k)` -> `TiedDense`, with biases.

    `k` is annealed from `k_start` over `anneal_steps` training steps. The
    decoder's bias starts at `decoder_bias` (e.g. the mean training image)
    if given, else at zero.
    """
    inputs = keras.Input((784,), name="pixels")
    encoder = keras.layers.Dense(
        units,
        kernel_initializer=keras.initializers.RandomNormal(
            stddev=INIT_STDDEV, seed=seed
        ),
        name="encoder",
    )
    codes = KSparse(
        k,
        k_start=k_start if anneal_steps else None,
        anneal_steps=anneal_steps,
        name="k_sparse",
    )(encoder(inputs))
    decoder = TiedDense(encoder, name="decoder")
    outputs = decoder(codes)
    if decoder_bias is not None:
        decoder.bias.assign(np.asarray(decoder_bias, dtype="float32"))
    return keras.Model(inputs, outputs, name="k_sparse_autoencoder")


def hidden_units(model, images):
    """The encoder's linear units `W^T x + b` of each image."""
    encoder = model.get_layer("encoder")
    features = keras.Model(model.inputs, encoder.output)
    return features.predict(images, batch_size=1024, verbose=0)


def alpha_k_codes(hidden, alpha, k=K):
    """The encoding for classification: the `alpha * k` largest units."""
    keep = min(int(round(alpha * k)), hidden.shape[-1])
    return ops.convert_to_numpy(KSparse(keep)(hidden))


def fit_probe(train_codes, train_labels, l2=PROBE_L2):
    """Logistic regression on the codes: the library's linear probe."""
    return instruments.LinearProbe(train_codes, train_labels, l2=l2)


def _probe_summary(probe, codes, labels):
    return {
        "error": 1.0 - probe.accuracy(codes, labels),
        "converged": bool(probe.converged),
        "iterations": int(probe.iterations),
    }


def evaluate(model, train, valid, test, *, alphas=ALPHAS, verbose=0):
    """Chooses alpha on validation; the test error of the final probe.

    Each of `train`, `valid`, `test` is a pair `(images, labels)`. The
    final probe is fit on train and validation together.
    """
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = (
        train,
        valid,
        test,
    )
    h_train, h_valid, h_test = (
        hidden_units(model, x) for x in (x_train, x_valid, x_test)
    )
    validation = {}
    for alpha in alphas:
        probe = fit_probe(alpha_k_codes(h_train, alpha), y_train)
        validation[str(alpha)] = _probe_summary(
            probe, alpha_k_codes(h_valid, alpha), y_valid
        )
        if verbose:
            error = validation[str(alpha)]["error"]
            print(f"alpha={alpha}: validation error {error:.4f}")
    alpha = min(alphas, key=lambda a: validation[str(a)]["error"])
    y_fit = np.concatenate([y_train, y_valid])
    probe = fit_probe(
        alpha_k_codes(np.concatenate([h_train, h_valid]), alpha), y_fit
    )
    test = _probe_summary(probe, alpha_k_codes(h_test, alpha), y_test)
    test_codes = alpha_k_codes(h_test, 1)
    return {
        "test_error": test["error"],
        "alpha": alpha,
        "validation_errors": {a: v["error"] for a, v in validation.items()},
        "probes_converged": all(
            v["converged"] for v in [test, *validation.values()]
        ),
        "probe_iterations": {
            "test": test["iterations"],
            **{f"alpha={a}": v["iterations"] for a, v in validation.items()},
        },
        "dead_unit_fraction_test": float(
            instruments.dead_unit_fraction(test_codes)
        ),
        "probe_fit_images": len(y_fit),
    }


def _steps_per_execution():
    """Steps per compiled call: speed only; PyTorch's trainer runs one."""
    return 1 if keras.backend.backend() == "torch" else STEPS_PER_EXECUTION


def load_table1_mnist(data, *, quick=False):
    """MNIST for the table, flattened to [0, 1]; split train / validation.

    Args:
        data: `"full"` (the file named by `SPARSEKERAS_MNIST`, else
            Keras's MNIST), `"embedded"` (the sample shipped in
            sparsekeras; with `quick` only), or the path of an `.npz`.
        quick: the quick split (`QUICK_TRAIN_IMAGES`,
            `QUICK_VALIDATION_IMAGES`) instead of the paper's 50,000 /
            10,000, which needs the full 60,000 training images.

    Returns:
        `(train, valid, test)`, each a pair `(images, labels)`.

    Raises:
        UserError: the data cannot be loaded, or holds too few images.
    """
    if data == "embedded" and not quick:
        raise _output.UserError(
            "--data embedded: the sample shipped in sparsekeras has 9,000 "
            "training images, the table needs the full 60,000; use --quick "
            "to try the command on it"
        )
    mnist = load_mnist_argument(data)
    (x_all, y_all), (x_test, y_test) = mnist
    train, valid = (
        (QUICK_TRAIN_IMAGES, QUICK_VALIDATION_IMAGES)
        if quick
        else (TRAIN_IMAGES, 60_000 - TRAIN_IMAGES)
    )
    if (quick and len(x_all) < train + valid) or (
        not quick and len(x_all) != train + valid
    ):
        expected = (
            f"at least {train + valid:,}" if quick else f"the full {60_000:,}"
        )
        raise _output.UserError(
            f"--data {data!r}: holds {len(x_all):,} training images, "
            f"expected {expected} (split {train:,} / {valid:,})"
        )
    x_all, x_test = (
        x.reshape(len(x), -1).astype("float32") / 255.0 for x in (x_all, x_test)
    )
    y_all, y_test = y_all.astype("int64"), y_test.astype("int64")
    return (
        (x_all[:train], y_all[:train]),
        (x_all[train : train + valid], y_all[train : train + valid]),
        (x_test, y_test),
    )


def _deviations(epochs, quick):
    deviations = dict(DEVIATIONS)
    if epochs != EPOCHS:
        deviations["epochs"] = f"{epochs} instead of thousands"
    if quick:
        deviations.update(QUICK_DEVIATIONS)
    return deviations


def output_folder(out_dir, *, overwrite=False):
    """The checked output folder of the table; a `UserError` if refused."""
    return _output.OutputFolder(out_dir, COMMAND, FILES, overwrite=overwrite)


def run_table1(
    data,
    out_dir,
    *,
    epochs=None,
    batch_size=BATCH_SIZE,
    alphas=ALPHAS,
    seed=0,
    max_images=None,
    quick=False,
    overwrite=False,
    verbose=1,
):
    """Trains the model, chooses alpha, measures the test error.

    Args:
        data: `"full"`, `"embedded"` (with `quick` only) or the path of an
            `.npz` (`load_table1_mnist`).
        out_dir: folder for `result.json` and `model.keras`; what an
            earlier run wrote there is replaced, any other file in the way
            raises a `UserError` before anything is loaded, unless
            `overwrite` is true.
        epochs: training epochs; `k` goes from 100 to 25 over the first
            half of them. `None`: `EPOCHS`, or `QUICK_EPOCHS` with `quick`.
        batch_size: images per SGD step.
        alphas: the candidates for `alpha`, chosen on validation.
        seed: seed of the initialisation and the shuffling.
        max_images: if set, use only this many images of each of the
            train, validation and test parts (quick checks, not results).
        quick: the quick split of `load_table1_mnist` and `QUICK_EPOCHS`
            by default: a check that the command runs, in about a minute.
        overwrite: replace files in `out_dir` that an earlier run did not
            write.
        verbose: 0 silent, 1 progress bars and lines.

    Returns:
        The dict written to `result.json`.
    """
    if epochs is None:
        epochs = QUICK_EPOCHS if quick else EPOCHS
    folder = output_folder(out_dir, overwrite=overwrite)
    started = time.perf_counter()
    train, valid, test = load_table1_mnist(data, quick=quick)
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = (
        (x[:max_images], y[:max_images]) for x, y in (train, valid, test)
    )
    with folder:
        return _train_and_evaluate(
            folder,
            (x_train, y_train),
            (x_valid, y_valid),
            (x_test, y_test),
            started=started,
            settings={
                "data": os.fspath(data),
                "quick": quick,
                "epochs": epochs,
                "batch_size": batch_size,
                "alphas": list(alphas),
                "seed": seed,
                "max_images": max_images,
            },
            verbose=verbose,
        )


def _train_and_evaluate(
    folder, train, valid, test, *, started, settings, verbose
):
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = (
        train,
        valid,
        test,
    )
    epochs, batch_size = settings["epochs"], settings["batch_size"]
    alphas, seed = settings["alphas"], settings["seed"]
    keras.utils.set_random_seed(seed)
    steps_per_epoch = -(-len(x_train) // batch_size)
    anneal_steps = (epochs // 2) * steps_per_epoch
    model = build_autoencoder(
        anneal_steps=anneal_steps, decoder_bias=x_train.mean(0), seed=seed
    )
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM),
        loss=SquaredErrorCost(1.0),
        steps_per_execution=_steps_per_execution(),
    )
    history = model.fit(
        x_train,
        x_train,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=True,
        callbacks=[keras.callbacks.TerminateOnNaN()],
        verbose=2 if verbose else 0,
    )
    if not np.isfinite(history.history["loss"][-1]):
        raise ValueError(
            "Invalid training for Makhzani & Frey's Table 1, expected a "
            "finite cost. Received: a NaN or infinite cost after "
            f"{len(history.history['loss'])} epochs (training diverged)"
        )
    trained = time.perf_counter()
    model.save(folder.path("model.keras"))

    evaluation = evaluate(
        model,
        (x_train, y_train),
        (x_valid, y_valid),
        (x_test, y_test),
        alphas=alphas,
        verbose=verbose,
    )
    finished = time.perf_counter()

    result = {
        **evaluation,
        "final_training_loss": float(history.history["loss"][-1]),
        "settings": {
            "data": settings["data"],
            "quick": settings["quick"],
            "train_images": len(x_train),
            "validation_images": len(x_valid),
            "test_images": len(x_test),
            "units": UNITS,
            "k": K,
            "k_start": K_START,
            "anneal_steps": anneal_steps,
            "epochs": epochs,
            "batch_size": batch_size,
            "steps_per_execution": _steps_per_execution(),
            "deviations": _deviations(epochs, settings["quick"]),
            "optimizer": f"SGD lr {LEARNING_RATE} momentum {MOMENTUM}",
            "init": f"N(0, {INIT_STDDEV}^2) kernel, zero encoder bias, "
            "decoder bias = mean training image (ours: against units that "
            "die in the first steps)",
            "loss": "sum over pixels of squared error, mean over the batch",
            "alphas": list(alphas),
            "probe": "studies.instruments.LinearProbe (standardised "
            f"features, L-BFGS to convergence), l2={PROBE_L2}",
            "seed": seed,
            "max_images": settings["max_images"],
            "backend": keras.backend.backend(),
            "keras": keras.__version__,
        },
        "wall_time_s": {
            "training": trained - started,
            "probes": finished - trained,
            "total": finished - started,
        },
    }
    return _output.write_json(folder.path("result.json"), result)
