"""Trains the five cases on MNIST, measures and draws each one.

`run_comparison` is what `sparsekeras compare` runs: for every chosen case
it fits the model of its preset, measures its codes, filters and
reconstructions on held-out test images, draws its pictures, saves the
model as `<out>/<key>.keras`, and at the end writes the report. Its files
reach the output folder only when the whole run has succeeded, and replace
only what an earlier comparison wrote there (`studies._output`).
"""

import dataclasses
import math
import time

import keras
import numpy as np

from sparsekeras.studies import _output, instruments, pictures
from sparsekeras.studies._data import load_mnist_argument
from sparsekeras.studies.five_cases import report
from sparsekeras.studies.five_cases.cases import (
    build_case,
    codes_of,
    cost_label,
    filters_of,
    fit_quietly,
)
from sparsekeras.studies.five_cases.config import ComparisonConfig, case_files
from sparsekeras.studies.five_cases.results import DIVERGED, CaseResult

FILTERS_SHOWN = 100
IMAGES_SHOWN = 10
COMMAND = "compare"


def run_comparison(out_dir, *, overwrite=False, **arguments):
    """Trains, measures, draws, saves and reports the chosen cases.

    Args:
        out_dir: folder for the pictures, models, `report.md` and
            `report.json`. The files of an earlier comparison there are
            replaced; any other file in the way raises a `UserError`
            before anything is loaded, unless `overwrite` is true.
        overwrite: replace files in `out_dir` that an earlier comparison
            did not write.
        **arguments: the arguments of `ComparisonConfig.resolve`: `preset`,
            `cases`, `epochs`, `batch_size`, `units`, `k`, `seed`, `data`,
            `max_steps`, `verbose`.

    Returns:
        The report as a dict, the content of `report.json`.
    """
    config = ComparisonConfig.resolve(**arguments)
    return compare(config, out_dir, overwrite=overwrite)


def output_folder(config, out_dir, *, overwrite=False):
    """The checked output folder of a run; a `UserError` if refused."""
    return _output.OutputFolder(
        out_dir, COMMAND, config.files(), overwrite=overwrite
    )


def compare(config, out_dir, *, overwrite=False):
    """`run_comparison` for a resolved `ComparisonConfig`."""
    folder = output_folder(config, out_dir, overwrite=overwrite)
    (x_train, y_train), (x_test, y_test), source = _load(config.data)
    train_images = config.preset.train_images
    if train_images is not None:
        x_train, y_train = x_train[:train_images], y_train[:train_images]
    # A reader of raw pixels, to ask whether a case's reconstructions can
    # still be read as the digits they were.
    reader = instruments.NearestNeighbourReader(x_train, y_train)
    data_arrays = (x_train, y_train, x_test, y_test)
    with folder:
        results = []
        for name in config.cases:
            result = _run_case(config, name, data_arrays, reader, folder)
            results.append(result)
            if config.verbose:
                print(report.summary_line(result), flush=True)
        measured = [r for r in results if r.measured]
        pictures.save_cost_curve(
            folder.path("cost_curves.png"),
            {_panel(r): r.cost_per_epoch for r in measured},
            panels=True,
            ylabel={
                _panel(r): cost_label(config.preset.cases[r.key])
                for r in measured
            },
            title="Training cost per epoch, one panel per case",
        )
        preset = config.preset
        keys = config.keys
        settings = {
            "preset": preset.name,
            "epochs": preset.epochs,
            "batch_size": _one_or_each(
                {key: preset.batch_size_of(key) for key in keys}
            ),
            "units": _one_or_each(
                {key: preset.cases[key].units for key in keys}
            ),
            "k": _one_or_each(
                {
                    key: preset.cases[key].k
                    for key in keys
                    if preset.cases[key].k is not None
                }
            ),
            "seed": config.seed,
            "data": config.data,
            "data_source": source,
            "train_images": int(len(x_train)),
            "test_images": int(len(x_test)),
            "max_steps": config.max_steps,
            "keras": keras.version(),
            "backend": keras.backend.backend(),
            "reader_accuracy_on_originals": reader.accuracy(x_test, y_test),
        }
        return report.write(folder.staging, settings, results, preset=preset)


def _panel(result):
    return f"({result.letter}) {result.title}"


def _one_or_each(values):
    distinct = set(values.values())
    return distinct.pop() if len(distinct) == 1 else values


def _load(data):
    mnist = load_mnist_argument(data)
    (x_train, y_train), (x_test, y_test) = mnist
    return (
        (_flatten(x_train), y_train),
        (_flatten(x_test), y_test),
        mnist.source,
    )


def _flatten(images):
    return images.reshape(len(images), -1).astype("float32") / 255.0


def _run_case(config, name, data, reader, folder):
    preset = config.preset
    x_train = data[0]
    batch_size = preset.batch_size_of(name.key)
    steps = -(-len(x_train) // batch_size)
    if config.max_steps is not None:
        steps = min(steps, config.max_steps)
    if config.verbose:
        print(f"\n({name.letter}) {name.title}", flush=True)
    keras.utils.set_random_seed(config.seed)
    case = build_case(
        name.key,
        preset.cases[name.key],
        training_steps=steps * preset.epochs,
        seed=config.seed,
    )
    images = x_train[: steps * batch_size]
    costs, wall_time = fit(
        case, images, preset.epochs, batch_size, config.verbose
    )
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
    files = case_files(name.key)
    result.model = files.pop("model")
    result.pictures = draw(
        name,
        case,
        config.preset.cases[name.key],
        data[2],
        costs,
        folder.path,
        files,
    )
    case.model.save(folder.path(result.model))
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


def draw(name, case, case_settings, x_test, costs, path, files):
    """Draws a case's filters, reconstructions and cost.

    Args:
        name: the case's `registry.CaseName`.
        case: the trained `BuiltCase`.
        x_test: the test images; the first few are shown.
        case_settings: the case's `presets.CaseSettings` (the cost's unit).
        costs: the cost of each epoch.
        path: maps a file name to the path it is written to.
        files: the file name of each picture, by kind (`filters`,
            `reconstructions`, `cost`).

    Returns:
        `files`.
    """
    shown = filters_of(case.model)[:, :FILTERS_SHOWN]
    pictures.save_filters(
        path(files["filters"]),
        shown,
        title=f"({name.letter}) {name.title}: first {shown.shape[1]} filters",
    )
    originals = x_test[:IMAGES_SHOWN]
    pictures.save_reconstructions(
        path(files["reconstructions"]),
        originals,
        case.model.predict(originals, verbose=0),
        title=f"({name.letter}) {name.title}: originals above reconstructions",
    )
    pictures.save_cost_curve(
        path(files["cost"]),
        costs,
        ylabel=cost_label(case_settings),
        title=f"({name.letter}) {name.title}: training cost per epoch",
    )
    return files
