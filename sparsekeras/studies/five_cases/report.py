"""The comparison's verdicts and its `report.md` and `report.json`.

The original comparison saw four things by eye. Each gets a rule, stated in
`report.md` before any number, and is decided by it from the measurements.
"""

import os

from sparsekeras.studies import _output, pictures
from sparsekeras.studies.five_cases import cases, registry
from sparsekeras.studies.five_cases.cases import settings_used

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_MEASURED = "not measured"
RECOGNISABLE_FRACTION = 0.9
GENERIC, SPECIFIC = "ab", "cde"
STROKE_LIKE = 0.3

OBSERVATIONS = (
    (
        "(a) and (b) learn filters not specific to digits; (c), (d), (e) "
        "learn stroke-like filters",
        "the mean class selectivity of the live units of (a) and of (b) is "
        "below that of every one of (c), (d), (e); and the share of stroke "
        f"filters among the live units is at least {STROKE_LIKE:.0%} for "
        "every one of (c), (d), (e) and below it for (a) and (b) (surrounded "
        "digit templates reach 20%, docs/metrics.md)",
    ),
    (
        "(d) reconstructs worst",
        "(d)'s test MSE is the highest of the five",
    ),
    (
        "(e) converges fastest",
        "(e)'s convergence epoch (the first epoch whose training cost is "
        "within 5% of that case's own final cost) is no later than any "
        "other case's",
    ),
    (
        "(c)'s reconstructions are blurrier than (a)'s and (b)'s yet "
        "recognisable",
        "(c)'s sharpness ratio is below (a)'s and (b)'s, and the pixel "
        "reader (each image read as the digit of its nearest original "
        "training image) scores (c)'s test reconstructions at no less than "
        f"{RECOGNISABLE_FRACTION:.0%} of its accuracy on the original test "
        "images",
    ),
)

_SETTING_LABELS = {
    "batch_size": "batch size",
    "train_images": "training images (the probe and the reader use all)",
    "test_images": "test images",
    "max_steps": "limit on steps per epoch (`--max-steps`)",
    "keras": "Keras",
    "reader_accuracy_on_originals": "pixel reader on the original test images",
}
# Settings that `preset_markdown`'s table gives case by case.
_IN_THE_CASES_TABLE = ("batch_size", "units", "k")

_COLUMNS = (
    ("reconstruction_mse", "test MSE", "{:.4f}"),
    ("active_units", "active units (L0)", "{:.1f}"),
    ("mean_activation", "mean activation", "{:.3f}"),
    ("dead_fraction", "dead units", "{:.1%}"),
    ("probe_accuracy", "linear probe", "{:.1%}"),
    ("reader_accuracy", "pixel reader on reconstructions", "{:.1%}"),
    ("class_selectivity", "class selectivity", "{:.3f}"),
    ("stroke_fraction", "stroke filters", "{:.0%}"),
    ("filter_smoothness", "filter smoothness", "{:.3f}"),
    ("sharpness_ratio", "sharpness ratio", "{:.3f}"),
    ("convergence_epoch", "converged (epoch)", "{}"),
    ("wall_time_s", "wall time (s)", "{:.1f}"),
)


def summary_line(result):
    """One line for a case, printed after its progress bars."""
    head = f"({result.letter}) {result.title}"
    if not result.measured:
        return f"{head}: {result.status} after {len(result.cost_per_epoch)} "
    return (
        f"{head}: test MSE {result.reconstruction_mse:.4f}, "
        f"L0 {result.active_units:.1f}, "
        f"dead {result.dead_fraction:.0%}, "
        f"probe {result.probe_accuracy:.1%}, "
        f"converged at epoch {result.convergence_epoch}"
        f"/{len(result.cost_per_epoch)}, "
        f"{result.wall_time_s:.1f} s"
    )


def verdicts(results, reader_accuracy_on_originals):
    """Decides each observation of the original comparison by its rule.

    Args:
        results: the `CaseResult`s of the run.
        reader_accuracy_on_originals: the pixel reader's test accuracy on
            the original test images.

    Returns:
        A list of dicts with `observation`, `rule`, `verdict`
        (`"reproduced"`, `"not reproduced"`, or `"not measured"` when a
        case it compares was not run or diverged) and `evidence`.
    """
    by_letter = {r.letter: r for r in results}
    deciders = (
        (registry.LETTERS, _filters),
        (registry.LETTERS, _worst_reconstruction),
        (registry.LETTERS, _fastest_convergence),
        ("abc", lambda c: _blurrier(c, reader_accuracy_on_originals)),
    )
    decided = []
    for (observation, rule), (letters, decide) in zip(
        OBSERVATIONS, deciders, strict=True
    ):
        verdict = {"observation": observation, "rule": rule}
        missing = [
            x
            for x in letters
            if x not in by_letter or not by_letter[x].measured
        ]
        if missing:
            verdict["verdict"] = NOT_MEASURED
            verdict["evidence"] = (
                "needs case(s) "
                + ", ".join(f"({x})" for x in missing)
                + " (not run or diverged)"
            )
        else:
            holds, evidence = decide(by_letter)
            verdict["verdict"] = REPRODUCED if holds else NOT_REPRODUCED
            verdict["evidence"] = evidence
        decided.append(verdict)
    return decided


def _listing(by_letter, letters, key, fmt):
    return ", ".join(
        f"({x}) {fmt.format(getattr(by_letter[x], key))}" for x in letters
    )


def _judged(evidence, failures):
    """`(holds, evidence)`: holds without failures; evidence names each."""
    if failures:
        evidence += "; fails: " + "; ".join(failures)
    return not failures, evidence


def _filters(c):
    def value(x, key):
        return getattr(c[x], key)

    failures = []
    specific = min(SPECIFIC, key=lambda x: value(x, "class_selectivity"))
    for x in GENERIC:
        if value(x, "class_selectivity") >= value(
            specific, "class_selectivity"
        ):
            failures.append(
                f"({x})'s class selectivity "
                f"{value(x, 'class_selectivity'):.3f} is not below "
                f"({specific})'s {value(specific, 'class_selectivity'):.3f}"
            )
    for x in SPECIFIC:
        if value(x, "stroke_fraction") < STROKE_LIKE:
            failures.append(
                f"({x}) has {value(x, 'stroke_fraction'):.0%} stroke "
                f"filters, under the {STROKE_LIKE:.0%} the rule needs"
            )
    for x in GENERIC:
        if value(x, "stroke_fraction") >= STROKE_LIKE:
            failures.append(
                f"({x}) has {value(x, 'stroke_fraction'):.0%} stroke "
                f"filters, not under the {STROKE_LIKE:.0%} the rule allows"
            )
    return _judged(
        "class selectivity (chance 0.1): "
        + _listing(c, registry.LETTERS, "class_selectivity", "{:.3f}")
        + "; stroke filters: "
        + _listing(c, registry.LETTERS, "stroke_fraction", "{:.0%}"),
        failures,
    )


def _worst_reconstruction(c):
    worst = max(registry.LETTERS, key=lambda x: c[x].reconstruction_mse)
    failures = []
    if worst != "d":
        failures.append(
            f"the highest test MSE is ({worst})'s "
            f"{c[worst].reconstruction_mse:.4f}, not (d)'s "
            f"{c['d'].reconstruction_mse:.4f}"
        )
    return _judged(
        "test MSE: "
        + _listing(c, registry.LETTERS, "reconstruction_mse", "{:.4f}"),
        failures,
    )


def _fastest_convergence(c):
    epoch = c["e"].convergence_epoch
    failures = [
        f"({x}) converges at epoch {c[x].convergence_epoch}, before (e)'s "
        f"epoch {epoch}"
        for x in registry.LETTERS
        if c[x].convergence_epoch < epoch
    ]
    return _judged(
        "convergence epoch: "
        + _listing(c, registry.LETTERS, "convergence_epoch", "{}"),
        failures,
    )


def _blurrier(c, reader_on_originals):
    ratio = c["c"].sharpness_ratio
    failures = [
        f"(c)'s sharpness ratio {ratio:.3f} is not below ({x})'s "
        f"{c[x].sharpness_ratio:.3f}"
        for x in "ab"
        if ratio >= c[x].sharpness_ratio
    ]
    needed = RECOGNISABLE_FRACTION * reader_on_originals
    if c["c"].reader_accuracy < needed:
        failures.append(
            f"the pixel reader scores (c)'s reconstructions "
            f"{c['c'].reader_accuracy:.1%}, under the {needed:.1%} "
            f"({RECOGNISABLE_FRACTION:.0%} of its accuracy on the "
            "originals) the rule needs"
        )
    return _judged(
        "sharpness ratio: "
        + _listing(c, "abc", "sharpness_ratio", "{:.3f}")
        + f"; pixel reader on (c)'s reconstructions "
        f"{c['c'].reader_accuracy:.1%} vs {reader_on_originals:.1%} on the "
        "originals",
        failures,
    )


def write(out_dir, settings, results, *, preset=None):
    """Writes `report.json` and `report.md` into `out_dir`.

    Args:
        out_dir: an existing folder, holding the pictures.
        settings: the run's settings, printed at the top; with
            `reader_accuracy_on_originals`.
        results: the `CaseResult`s, diverged ones included.
        preset: the `presets.Preset` the run trained with, overrides
            applied; its summary, the settings each case uses and its
            deviations are printed after the settings. `None` leaves
            them out.

    Returns:
        The report as a dict, the content of `report.json`.
    """
    content = {
        "settings": settings,
        "cases": [r.to_dict() for r in results],
        "verdicts": verdicts(results, settings["reader_accuracy_on_originals"]),
    }
    # Non-finite numbers (a diverged cost, a measure of one image) are null.
    content = _output.write_json(os.path.join(out_dir, "report.json"), content)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(_markdown(content, results, preset))
    return content


def preset_markdown(preset, keys, settings):
    """The lines of Markdown on the preset: its cases' settings, deviations.

    Args:
        preset: the `presets.Preset` of the run, overrides applied.
        keys: the keys of the cases run, in report order.
        settings: the run's settings; `train_images` and `max_steps` say
            how many training images each case was trained on.

    Returns:
        A list of lines: the preset's summary, a sentence on the training
        images if the run used other than the preset asks for, a table of
        the settings each case uses, and the deliberate deviations.
    """
    lines = [f"Preset `{preset.name}`: {preset.summary}."]
    available = settings.get("train_images")
    if available is not None and preset.train_images not in (None, available):
        lines += [
            "",
            f"This run trained on {available:,} training images, not the "
            f"{preset.train_images:,} the preset asks for: the data held "
            "no more.",
        ]
    lines += [
        "",
        "| case | batch size | training images per epoch | settings it uses |",
        "| --- | --- | --- | --- |",
    ]
    for key in keys:
        name = registry.lookup(key)
        batch = preset.batch_size_of(key)
        images = _images_per_epoch(available, batch, settings.get("max_steps"))
        used = "; ".join(settings_used(key, preset.cases[key]))
        lines.append(
            f"| ({name.letter}) {name.title} | {batch} | {images} | {used} |"
        )
    lines += ["", "Deliberate deviations from the sources:", ""]
    lines += [f"- {deviation}" for deviation in preset.all_deviations()]
    return lines


def _images_per_epoch(available, batch, max_steps):
    if available is None:
        return "all"
    if max_steps is not None:
        return f"{min(available, max_steps * batch):,}"
    return f"{available:,}"


def _setting_value(value):
    if isinstance(value, dict):
        return ", ".join(
            f"({registry.lookup(key).letter}) {v}" for key, v in value.items()
        )
    return "none" if value is None else value


def _markdown(content, results, preset):
    settings = content["settings"]
    shown = {
        key: value
        for key, value in settings.items()
        if preset is None or key not in _IN_THE_CASES_TABLE
    }
    lines = [
        "# Five ways to get sparse codes, measured on MNIST",
        "",
        "Produced by `sparsekeras compare`. Every number is measured on the "
        "held-out test images of the data below.",
        "",
        _LOADING,
        "",
        "## Settings",
        "",
        "| setting | value |",
        "| --- | --- |",
    ]
    lines += [
        f"| {_SETTING_LABELS.get(k, k)} | {_setting_value(v)} |"
        for k, v in shown.items()
    ]
    if preset is not None:
        keys = [r.key for r in results]
        lines += ["", *preset_markdown(preset, keys, settings)]
    lines += ["", "## The cases", "", cases.__doc__.split("\n", 2)[2].strip()]
    lines += [
        "",
        "## Rules, stated before the numbers",
        "",
        "| observation of the original comparison | rule that decides it |",
        "| --- | --- |",
    ]
    lines += [f"| {o} | {r} |" for o, r in OBSERVATIONS]
    lines += ["", "## Measurements", ""]
    lines.append("| case | " + " | ".join(c[1] for c in _COLUMNS) + " |")
    lines.append("| --- " * (len(_COLUMNS) + 1) + "|")
    for r in results:
        if r.measured:
            cells = [fmt.format(getattr(r, key)) for key, _, fmt in _COLUMNS]
        else:
            cells = [f"**{r.status}**"] + [""] * (len(_COLUMNS) - 1)
        lines.append(f"| ({r.letter}) {r.title} | " + " | ".join(cells) + " |")
    lines += ["", _training_time(results), "", _DEFINITIONS, ""]
    lines += [
        "## Does this run reproduce the original observations?",
        "",
        "| observation | verdict | evidence |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {v['observation']} | **{v['verdict']}** | {v['evidence']} |"
        for v in content["verdicts"]
    ]
    lines += ["", "## Pictures", "", "![cost curves](cost_curves.png)", ""]
    lines += [_cost_curves_caption(results), ""]
    for r in results:
        lines += [f"### ({r.letter}) {r.title}", ""]
        if r.model:
            lines += [
                f"Trained model: `{r.model}`; load it with `import "
                f"sparsekeras` first, then `keras.saving.load_model("
                f'"{r.model}")`.',
                "",
            ]
        for kind, name in r.pictures.items():
            lines += [f"![{kind}]({name})", "", _caption(kind, r), ""]
    return "\n".join(lines)


_LOADING = (
    "The run that writes this report saves each case's trained model "
    "beside it as `<case>.keras` (the copies of this report in the "
    "project's docs leave the models out: rerun its command to get "
    "them). To load one, `import sparsekeras` first: the import "
    "registers sparsekeras's layers, regularizers and its cost "
    "(`SquaredErrorCost`) with Keras, and without it "
    "`keras.saving.load_model` stops with `Could not locate class "
    "'SquaredErrorCost'`."
)


def _training_time(results):
    """A sentence with the run's own measured training time."""
    times = [r.wall_time_s for r in results if r.wall_time_s is not None]
    if not times:
        return "No case trained to the end, so no training time is given."
    return (
        f"Training took {sum(times):.1f} s of wall time in all on this "
        "run's machine (the sum of the column above; loading, measuring "
        "and drawing add to it)."
    )


def _cost_curves_caption(results):
    """The line under the combined cost picture."""
    logarithmic = [
        f"({r.letter})"
        for r in results
        if r.measured and pictures.needs_log_scale(r.cost_per_epoch)
    ]
    log_axes = f" Here: {', '.join(logarithmic)}." if logarithmic else ""
    if "(d)" in logarithmic:
        log_axes += (
            " (d)'s first epoch is far above the rest: its dictionary still "
            "holds the training images it started from."
        )
    return (
        "*What to look at:* each case's training cost per epoch in a panel "
        "of its own, on one epoch axis, its unit on the vertical axis (the "
        "loss Keras minimised, with the case's penalties). Compare shapes "
        "and when each curve flattens, not heights: the cases' costs have "
        "different penalties. An axis is logarithmic where the cost falls "
        f"more than {pictures.LOG_SPAN:g}-fold.{log_axes}"
    )


def _caption(kind, result):
    """The line under a case's picture that says what to look at."""
    if kind == "filters":
        what = "atoms" if result.letter == "d" else "filters"
        dead = (
            ""
            if result.dead_fraction is None
            else f"; this case has {result.dead_fraction:.0%} dead units"
        )
        return (
            f"*What to look at:* the first {what} twice. Left, "
            "contrast-normalised: each stretched to its own range, to show "
            "its shape (strokes, blobs, whole digits or noise). Right, "
            "global scale: all on one scale, to show their strength. A flat "
            "grey tile on the right is a weak filter, not a dead unit: a "
            "unit is dead only when its activation varies over the test "
            "images by at most 1% of the widest-varying unit's range, and "
            f"a unit with small weights can vary well above that{dead}."
        )
    if kind == "reconstructions":
        return (
            "*What to look at:* ten test images (top) above this case's "
            "reconstructions (bottom), none rescaled, so a faint "
            "reconstruction looks faint: blur, missing strokes, a digit "
            "turned into another."
        )
    converged = (
        ""
        if result.convergence_epoch is None
        else f" It is within 5% of its final cost from epoch "
        f"{result.convergence_epoch}, its convergence epoch."
    )
    return (
        "*What to look at:* the training cost per epoch, its unit on the "
        "vertical axis, which is logarithmic where the cost falls more "
        f"than {pictures.LOG_SPAN:g}-fold.{converged}"
    )


_DEFINITIONS = (
    "Active units (L0): |code| above 0.5 for the sigmoid cases (a)-(c), "
    "nonzero for (d) and (e). Dead units: a unit is dead when its range "
    "over the test images (largest minus smallest activation) is at most "
    "1% of the largest range of any unit of the case "
    "(`studies.instruments.dead_units`): a k-sparse unit that never wins "
    "and a sigmoid unit stuck near 0 or 1 alike; the others are live. "
    "Linear probe: multinomial logistic regression fit to convergence "
    "(L-BFGS, float64 NumPy, the same on every backend) on the "
    "standardised codes of the training images, scored on the test codes. "
    "Pixel reader: each test reconstruction is read as the digit of its "
    "nearest original training image (1-nearest neighbour in pixel space, "
    "`studies.instruments.NearestNeighbourReader`), which reads blurred "
    "and noisy digits as a person does and shuffled pixels at chance "
    "(docs/metrics.md; a linear probe on pixels drops to 37% on noisy "
    "digits). Class selectivity: for each live "
    "unit, the share of its activation above its median that falls on its "
    "preferred digit, averaged (chance 0.1). Stroke filters: the share of "
    "live units whose filter is smooth and whose excitatory part (the "
    "weights above its background, the filter turned to face the sign its "
    "unit mostly codes with) is local, by `sparsekeras.studies.instruments."
    "filter_kinds`; not noise, not a whole-digit template. Filter "
    "smoothness: mean correlation of neighbouring pixels in the filters "
    "of live units. "
    "Sharpness ratio: mean squared image gradient of the reconstructions "
    "over that of the originals (1 is as sharp)."
)
