"""The comparison's verdicts and its `report.md` and `report.json`.

The original comparison saw four things by eye. Each gets a rule, stated in
`report.md` before any number, and is decided by it from the measurements.
"""

import os

from sparsekeras.studies import _output
from sparsekeras.studies.five_cases import cases, registry

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


def _filters(c):
    def value(x, key):
        return getattr(c[x], key)

    selective = max(value(x, "class_selectivity") for x in GENERIC) < min(
        value(x, "class_selectivity") for x in SPECIFIC
    )
    strokes = (
        min(value(x, "stroke_fraction") for x in SPECIFIC)
        >= STROKE_LIKE
        > max(value(x, "stroke_fraction") for x in GENERIC)
    )
    return selective and strokes, (
        "class selectivity (chance 0.1): "
        + _listing(c, registry.LETTERS, "class_selectivity", "{:.3f}")
        + "; stroke filters: "
        + _listing(c, registry.LETTERS, "stroke_fraction", "{:.0%}")
    )


def _worst_reconstruction(c):
    worst = max(registry.LETTERS, key=lambda x: c[x].reconstruction_mse)
    return worst == "d", "test MSE: " + _listing(
        c, registry.LETTERS, "reconstruction_mse", "{:.4f}"
    )


def _fastest_convergence(c):
    fastest = min(c[x].convergence_epoch for x in registry.LETTERS)
    return c["e"].convergence_epoch == fastest, (
        "convergence epoch: "
        + _listing(c, registry.LETTERS, "convergence_epoch", "{}")
    )


def _blurrier(c, reader_on_originals):
    blurrier = c["c"].sharpness_ratio < min(c[x].sharpness_ratio for x in "ab")
    recognisable = (
        c["c"].reader_accuracy >= RECOGNISABLE_FRACTION * reader_on_originals
    )
    return blurrier and recognisable, (
        "sharpness ratio: "
        + _listing(c, "abc", "sharpness_ratio", "{:.3f}")
        + f"; pixel reader on (c)'s reconstructions "
        f"{c['c'].reader_accuracy:.1%} vs {reader_on_originals:.1%} on the "
        "originals"
    )


def write(out_dir, settings, results, *, preset_text=()):
    """Writes `report.json` and `report.md` into `out_dir`.

    Args:
        out_dir: an existing folder, holding the pictures.
        settings: the run's settings, printed at the top; with
            `reader_accuracy_on_originals`.
        results: the `CaseResult`s, diverged ones included.
        preset_text: lines of markdown describing each case's settings and
            the preset's deviations, printed after the settings.

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
        f.write(_markdown(content, results, preset_text))
    return content


def _markdown(content, results, preset_text):
    settings = content["settings"]
    lines = [
        "# Five ways to get sparse codes, measured on MNIST",
        "",
        "Produced by `sparsekeras compare`. Every number is measured on the "
        "held-out test images of the data below.",
        "",
        "## Settings",
        "",
        "| setting | value |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in settings.items()]
    lines += ["", *preset_text]
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
    lines += ["", _DEFINITIONS, ""]
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
    for r in results:
        lines += [f"### ({r.letter}) {r.title}", ""]
        if r.model:
            lines += [f"Trained model: `{r.model}`.", ""]
        for kind, name in r.pictures.items():
            lines += [f"![{kind}]({name})", ""]
    return "\n".join(lines)


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
