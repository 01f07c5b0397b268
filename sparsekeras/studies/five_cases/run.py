"""Trains the five cases on MNIST, measures and draws each one.

`run_comparison` is what `sparsekeras compare` runs: for every chosen case
it fits the model of its preset, measures its codes, filters and
reconstructions on held-out test images, draws its pictures, saves the
model as `<out>/<key>.keras`, and at the end writes the report.
"""

import dataclasses
import math
import os
import time

import keras
import numpy as np

from sparsekeras.datasets import load_mnist
from sparsekeras.datasets.mnist import ENVIRONMENT_VARIABLE
from sparsekeras.studies import instruments, pictures
from sparsekeras.studies.five_cases import presets, registry, report
from sparsekeras.studies.five_cases.cases import (
    build_case,
    codes_of,
    cost_label,
    filters_of,
    fit_quietly,
)
from sparsekeras.studies.five_cases.results import DIVERGED, CaseResult

FILTERS_SHOWN = 100
IMAGES_SHOWN = 10


def run_comparison(
    out_dir,
    *,
    preset="original",
    cases=registry.KEYS,
    epochs=None,
    batch_size=None,
    units=None,
    k=None,
    seed=0,
    data="embedded",
    max_steps=None,
    verbose=1,
):
    """Trains, measures, draws, saves and reports the chosen cases.

    Args:
        out_dir: folder for the pictures, models, `report.md` and
            `report.json`; report files of an earlier run are removed first.
        preset: `"original"` or `"paper"` (`presets.PRESETS`).
        cases: keys of `registry.CASES`, in report order.
        epochs, batch_size, units, k: override the preset's (`None` keeps
            them).
        seed: seed of initialisation and shuffling, the same for each case.
        data: `"embedded"` (the sample shipped in the package), `"full"`
            (the file named by `SPARSEKERAS_MNIST`, else Keras's MNIST; an
            error if neither can be read), or a path to an `.npz`.
        max_steps: if set, at most this many steps per epoch (smoke runs).
        verbose: 1 shows Keras progress bars and one line per case; 0 is
            silent.

    Returns:
        The report as a dict, the content of `report.json`.
    """
    chosen = presets.PRESETS[preset].with_overrides(
        epochs=epochs, batch_size=batch_size, units=units, k=k
    )
    (x_train, y_train), (x_test, y_test), source = _load(data)
    if chosen.train_images is not None:
        x_train = x_train[: chosen.train_images]
        y_train = y_train[: chosen.train_images]
    os.makedirs(out_dir, exist_ok=True)
    report.remove_stale(out_dir)
    # A reader of raw pixels, to ask whether a case's reconstructions can
    # still be read as the digits they were.
    reader = instruments.NearestNeighbourReader(x_train, y_train)
    data_arrays = (x_train, y_train, x_test, y_test)
    results = []
    for key in cases:
        result = _run_case(
            key, chosen, data_arrays, reader, seed, max_steps, out_dir, verbose
        )
        results.append(result)
        if verbose:
            print(report.summary_line(result), flush=True)
    measured = [r for r in results if r.measured]
    pictures.save_cost_curve(
        os.path.join(out_dir, "cost_curves.png"),
        {_panel(r): r.cost_per_epoch for r in measured},
        panels=True,
        ylabel={_panel(r): cost_label(chosen.cases[r.key]) for r in measured},
        title="Training cost per epoch, one panel per case",
    )
    settings = {
        "preset": chosen.name,
        "epochs": chosen.epochs,
        "batch_size": _one_or_each(
            {key: chosen.batch_size_of(key) for key in cases}
        ),
        "units": _one_or_each({key: chosen.cases[key].units for key in cases}),
        "k": _one_or_each(
            {
                key: chosen.cases[key].k
                for key in cases
                if chosen.cases[key].k is not None
            }
        ),
        "seed": seed,
        "data": source,
        "train_images": int(len(x_train)),
        "test_images": int(len(x_test)),
        "max_steps": max_steps,
        "keras": keras.version(),
        "backend": keras.backend.backend(),
        "reader_accuracy_on_originals": reader.accuracy(x_test, y_test),
    }
    return report.write(out_dir, settings, results, preset=chosen)


def _panel(result):
    return f"({result.letter}) {result.title}"


def _one_or_each(values):
    distinct = set(values.values())
    return distinct.pop() if len(distinct) == 1 else values


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


def _run_case(key, preset, data, reader, seed, max_steps, out_dir, verbose):
    name = registry.lookup(key)
    x_train = data[0]
    batch_size = preset.batch_size_of(key)
    steps = -(-len(x_train) // batch_size)
    if max_steps is not None:
        steps = min(steps, max_steps)
    if verbose:
        print(f"\n({name.letter}) {name.title}", flush=True)
    keras.utils.set_random_seed(seed)
    case = build_case(
        key,
        preset.cases[key],
        training_steps=steps * preset.epochs,
        seed=seed,
    )
    images = x_train[: steps * batch_size]
    costs, wall_time = fit(case, images, preset.epochs, batch_size, verbose)
    result = CaseResult(name.key, name.letter, name.title)
    result.cost_per_epoch = costs
    if not all(math.isfinite(c) for c in costs):
        result.status = DIVERGED
        return result
    measurements = measure(case, data, reader)
    result = dataclasses.replace(
        result,
        wall_time_s=wall_time,
        convergence_epoch=instruments.convergence_epoch(costs),
        **measurements,
    )
    result.pictures = draw(
        name, case, preset.cases[key], data[2], costs, out_dir
    )
    result.model = f"{key}.keras"
    case.model.save(os.path.join(out_dir, result.model))
    return result


def fit(case, images, epochs, batch_size, verbose):
    """Trains a case, stopping at the first non-finite cost.

    Returns:
        The cost of each epoch, and the training time in seconds.
    """
    if case.prepare is not None:
        case.prepare(images)
    start = time.perf_counter()
    history = fit_quietly(
        case.model,
        images,
        images,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        callbacks=[keras.callbacks.TerminateOnNaN()],
        verbose=verbose,
    )
    wall_time = time.perf_counter() - start
    return [float(c) for c in history.history["loss"]], wall_time


def measure(case, data, reader):
    """Measures a trained case on the test images; a dict of fields."""
    x_train, y_train, x_test, y_test = data
    reconstructions = case.model.predict(x_test, batch_size=1000, verbose=0)
    test_codes = np.asarray(codes_of(case.model, x_test))
    train_codes = np.asarray(codes_of(case.model, x_train))
    filters = np.asarray(filters_of(case.model))
    threshold = case.active_threshold
    live = ~instruments.dead_units(test_codes)
    # A filter faces the way its unit uses it: (d) codes with either sign,
    # and an atom used negatively is driven by its negative weights.
    filters = filters * np.where(np.sum(test_codes, axis=0) < 0, -1.0, 1.0)
    # Dead units keep their initial filters, which would make the filter
    # measures count the dead units a second time.
    live_filters = filters[:, live] if np.any(live) else filters
    return {
        "reconstruction_mse": float(np.mean((reconstructions - x_test) ** 2)),
        "active_units": float(
            np.mean(instruments.active_units(test_codes, threshold))
        ),
        "active_threshold": threshold,
        "mean_activation": float(np.mean(np.abs(test_codes))),
        "dead_fraction": instruments.dead_unit_fraction(test_codes),
        "probe_accuracy": instruments.linear_probe_accuracy(
            train_codes, y_train, test_codes, y_test
        ),
        "reader_accuracy": reader.accuracy(reconstructions, y_test),
        "filter_smoothness": instruments.filter_smoothness(live_filters),
        "class_selectivity": instruments.mean_class_selectivity(
            test_codes, y_test
        ),
        "stroke_fraction": instruments.stroke_fraction(live_filters),
        "sharpness_ratio": instruments.sharpness(reconstructions)
        / max(instruments.sharpness(x_test), 1e-12),
    }


def draw(name, case, case_settings, x_test, costs, out_dir):
    """Draws a case's filters, reconstructions and cost; their file names."""
    files = {
        "filters": f"{name.key}_filters.png",
        "reconstructions": f"{name.key}_reconstructions.png",
        "cost": f"{name.key}_cost.png",
    }
    shown = filters_of(case.model)[:, :FILTERS_SHOWN]
    pictures.save_filters(
        os.path.join(out_dir, files["filters"]),
        shown,
        title=f"({name.letter}) {name.title}: first {shown.shape[1]} filters",
    )
    originals = x_test[:IMAGES_SHOWN]
    pictures.save_reconstructions(
        os.path.join(out_dir, files["reconstructions"]),
        originals,
        case.model.predict(originals, verbose=0),
        title=f"({name.letter}) {name.title}: originals above reconstructions",
    )
    pictures.save_cost_curve(
        os.path.join(out_dir, files["cost"]),
        costs,
        ylabel=cost_label(case_settings),
        title=f"({name.letter}) {name.title}: training cost per epoch",
    )
    return files
