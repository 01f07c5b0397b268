"""Trains the five cases on MNIST and measures each one.

`run_comparison` is what `sparsekeras compare` runs: it trains every chosen
case with the same data, seed and schedule, measures its codes, filters and
reconstructions on held-out test images, draws its pictures, and writes the
report.
"""

import os
import time
import warnings

import keras
import numpy as np

from sparsekeras import metrics, visualize
from sparsekeras.comparison import report
from sparsekeras.comparison.cases import CASES, build_case
from sparsekeras.datasets import load_mnist
from sparsekeras.datasets.mnist import ENVIRONMENT_VARIABLE

EPOCHS = 15
BATCH_SIZE = 128
UNITS = 1000
K = 25
PROBE_STEPS = 720
FILTERS_SHOWN = 100
IMAGES_SHOWN = 10


def run_comparison(
    out_dir,
    *,
    cases=CASES,
    epochs=EPOCHS,
    batch_size=BATCH_SIZE,
    units=UNITS,
    k=K,
    seed=0,
    data="embedded",
    max_steps=None,
    probe_epochs=None,
    verbose=1,
):
    """Trains, measures and reports the chosen cases.

    Args:
        out_dir: folder for the pictures, `report.md` and `report.json`.
        cases: keys of `sparsekeras.comparison.cases.CASES`, in report order.
        epochs: training epochs of every case.
        batch_size: images per training step.
        units: hidden units (dictionary atoms) of every case.
        k: active units of the k-sparse and neural sparse coding cases.
        seed: seed of initialisation and shuffling, the same for each case.
        data: `"embedded"` (the sample shipped in the package), `"full"`
            (the file named by `SPARSEKERAS_MNIST`, else Keras's MNIST; an
            error if neither can be read), or a path to an `.npz`.
        max_steps: if set, at most this many steps per epoch (smoke runs).
        probe_epochs: training epochs of the linear probes; by default as
            many as make about `PROBE_STEPS` steps, so the
            probes cost the same on the sample and on full MNIST.
        verbose: 1 shows Keras progress bars and one line per case; 0 is
            silent.

    Returns:
        The report as a dict, the content of `report.json`.
    """
    os.makedirs(out_dir, exist_ok=True)
    (x_train, y_train), (x_test, y_test), source = _load(data)
    steps_per_epoch = -(-len(x_train) // batch_size)
    if probe_epochs is None:
        batches = -(-len(x_train) // metrics.PROBE_BATCH_SIZE)
        probe_epochs = max(1, round(PROBE_STEPS / batches))
    if max_steps is not None:
        steps_per_epoch = min(steps_per_epoch, max_steps)
    # A linear classifier of raw pixels, to ask whether a case's
    # reconstructions can still be read as the digits they were.
    reader = metrics.LinearProbe(
        x_train, y_train, epochs=probe_epochs, seed=seed
    )
    results = []
    for key in cases:
        keras.utils.set_random_seed(seed)
        case = build_case(
            key,
            units=units,
            k=k,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
        )
        result = _train_and_measure(
            case,
            (x_train, y_train, x_test, y_test),
            epochs=epochs,
            batch_size=batch_size,
            steps_per_epoch=steps_per_epoch,
            reader=reader,
            probe_epochs=probe_epochs,
            seed=seed,
            out_dir=out_dir,
            verbose=verbose,
        )
        results.append(result)
        if verbose:
            print(report.summary_line(result), flush=True)
    visualize.save_cost_curve(
        os.path.join(out_dir, "cost_curves.png"),
        {r["title"]: r["cost_per_epoch"] for r in results},
    )
    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "units": units,
        "k": k,
        "seed": seed,
        "data": source,
        "train_images": int(len(x_train)),
        "test_images": int(len(x_test)),
        "steps_per_epoch": steps_per_epoch,
        "keras": keras.version(),
        "backend": keras.backend.backend(),
        "reader_accuracy_on_originals": reader.accuracy(x_test, y_test),
    }
    return report.write(out_dir, settings, results)


def _load(data):
    if data == "embedded":
        mnist = load_mnist(source="embedded")
    elif data == "full":
        # Full MNIST or an error: never the sample under the name "full".
        from_file = os.environ.get(ENVIRONMENT_VARIABLE)
        mnist = load_mnist(source="path" if from_file else "keras")
    else:
        mnist = load_mnist(data, source="path")
    (x_train, y_train), (x_test, y_test) = mnist
    return (
        (_flatten(x_train), y_train),
        (_flatten(x_test), y_test),
        mnist.description,
    )


def _flatten(images):
    return images.reshape(len(images), -1).astype("float32") / 255.0


def _train_and_measure(
    case,
    data,
    *,
    epochs,
    batch_size,
    steps_per_epoch,
    reader,
    probe_epochs,
    seed,
    out_dir,
    verbose,
):
    x_train, y_train, x_test, y_test = data
    if verbose:
        print(f"\n({case.letter}) {case.title}", flush=True)
    train_images = x_train[: steps_per_epoch * batch_size]
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Case (d) has no trainable weights by design: its dictionary
        # learns inside the layer, and the loss is only measured.
        warnings.filterwarnings(
            "ignore", message="The model does not have any trainable weights"
        )
        history = case.model.fit(
            train_images,
            train_images,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            verbose=verbose,
        )
    wall_time = time.perf_counter() - start
    costs = [float(c) for c in history.history["loss"]]

    reconstructions = case.model.predict(x_test, batch_size=1024, verbose=0)
    test_codes = np.asarray(case.encode(x_test))
    train_codes = np.asarray(case.encode(x_train))
    filters = np.asarray(case.filters())
    active = metrics.active_units(test_codes, case.active_threshold)
    live = np.any(np.abs(test_codes) > case.active_threshold, axis=0)

    _draw(case, filters, x_test, reconstructions, costs, out_dir)
    return {
        "key": case.key,
        "letter": case.letter,
        "title": case.title,
        "reconstruction_mse": float(np.mean((reconstructions - x_test) ** 2)),
        "active_units": float(np.mean(active)),
        "active_threshold": case.active_threshold,
        "mean_activation": float(np.mean(np.abs(test_codes))),
        "dead_fraction": metrics.dead_unit_fraction(
            test_codes, case.active_threshold
        ),
        "probe_accuracy": metrics.linear_probe_accuracy(
            train_codes,
            y_train,
            test_codes,
            y_test,
            epochs=probe_epochs,
            seed=seed,
        ),
        "reader_accuracy": reader.accuracy(reconstructions, y_test),
        # Dead units keep their random initial filters, which would make
        # the smoothness of a case measure its dead fraction a second time.
        "filter_smoothness": metrics.filter_smoothness(
            filters[:, live] if np.any(live) else filters
        ),
        "sharpness_ratio": metrics.sharpness(reconstructions)
        / max(metrics.sharpness(x_test), 1e-12),
        "convergence_epoch": metrics.convergence_epoch(costs),
        "wall_time_s": wall_time,
        "cost_per_epoch": costs,
        "pictures": {
            "filters": f"{case.key}_filters.png",
            "reconstructions": f"{case.key}_reconstructions.png",
            "cost": f"{case.key}_cost.png",
        },
    }


def _draw(case, filters, originals, reconstructions, costs, out_dir):
    shown = filters[:, :FILTERS_SHOWN]
    visualize.save_filters(
        os.path.join(out_dir, f"{case.key}_filters.png"),
        shown,
        title=f"({case.letter}) {case.title}: first {shown.shape[1]} filters",
    )
    visualize.save_reconstructions(
        os.path.join(out_dir, f"{case.key}_reconstructions.png"),
        originals[:IMAGES_SHOWN],
        reconstructions[:IMAGES_SHOWN],
        title=f"({case.letter}) {case.title}: originals above reconstructions",
    )
    visualize.save_cost_curve(
        os.path.join(out_dir, f"{case.key}_cost.png"),
        {case.title: costs},
    )
