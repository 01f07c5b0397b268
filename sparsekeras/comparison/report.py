"""The comparison's verdicts and its `report.md` and `report.json`.

The original comparison saw four things by eye. Each is decided here from the
measurements, with the numbers that decide it:

1. (a) and (b) learn filters not specific to digits, (c), (d) and (e)
   stroke-like ones: every filter smoothness of (c), (d), (e) is above every
   one of (a), (b) (`sparsekeras.metrics.filter_smoothness` of the filters
   of live units, those active on at least one test image: near 0 for
   noise, near 1 for strokes).
2. (d) reconstructs worst: its test MSE is the highest.
3. (e) converges fastest: its convergence epoch (the first within 5% of the
   final cost) is no later than any other case's.
4. (c)'s reconstructions are blurrier than (a)'s and (b)'s yet recognisable:
   its sharpness ratio is below both, and a linear classifier of pixels,
   trained on the original training images, reads its reconstructions with
   at least 90% of the accuracy it has on the originals.
"""

import inspect
import json
import math
import os

from sparsekeras.comparison import cases

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_MEASURED = "not measured"
RECOGNISABLE_FRACTION = 0.9
ALL_CASES = "abcde"

_COLUMNS = (
    ("reconstruction_mse", "test MSE", "{:.4f}"),
    ("active_units", "active units (L0)", "{:.1f}"),
    ("mean_activation", "mean activation", "{:.3f}"),
    ("dead_fraction", "dead units", "{:.1%}"),
    ("probe_accuracy", "linear probe", "{:.1%}"),
    ("reader_accuracy", "pixel reader on reconstructions", "{:.1%}"),
    ("filter_smoothness", "filter smoothness", "{:.3f}"),
    ("sharpness_ratio", "sharpness ratio", "{:.3f}"),
    ("convergence_epoch", "converged (epoch)", "{}"),
    ("wall_time_s", "wall time (s)", "{:.1f}"),
)


def summary_line(result):
    """One line for a trained case, printed after its progress bars."""
    return (
        f"({result['letter']}) {result['title']}: "
        f"test MSE {result['reconstruction_mse']:.4f}, "
        f"L0 {result['active_units']:.1f}, "
        f"dead {result['dead_fraction']:.0%}, "
        f"probe {result['probe_accuracy']:.1%}, "
        f"converged at epoch {result['convergence_epoch']}"
        f"/{len(result['cost_per_epoch'])}, "
        f"{result['wall_time_s']:.1f} s"
    )


def verdicts(results, reader_accuracy_on_originals):
    """Decides each observation of the original comparison.

    Args:
        results: the measured cases, dicts as `run_comparison` makes them.
        reader_accuracy_on_originals: the pixel reader's test accuracy on
            the original test images.

    Returns:
        A list of dicts with `observation`, `verdict` (`"reproduced"`,
        `"not reproduced"`, or `"not measured"` when a case it compares
        was not run) and `evidence`.
    """
    by_letter = {r["letter"]: r for r in results}
    return [
        _filters_verdict(by_letter),
        _worst_reconstruction_verdict(by_letter),
        _fastest_convergence_verdict(by_letter),
        _blurrier_verdict(by_letter, reader_accuracy_on_originals),
    ]


def _needs(by_letter, letters, observation):
    missing = [x for x in letters if x not in by_letter]
    if missing:
        return {
            "observation": observation,
            "verdict": NOT_MEASURED,
            "evidence": "needs case(s) " + ", ".join(f"({x})" for x in missing),
        }
    return None


def _decide(observation, holds, evidence):
    return {
        "observation": observation,
        "verdict": REPRODUCED if holds else NOT_REPRODUCED,
        "evidence": evidence,
    }


def _listing(by_letter, letters, key, fmt):
    return ", ".join(f"({x}) {fmt.format(by_letter[x][key])}" for x in letters)


def _filters_verdict(by_letter):
    observation = (
        "(a) and (b) learn filters not specific to digits; (c), (d), (e) "
        "learn stroke-like filters"
    )
    missing = _needs(by_letter, ALL_CASES, observation)
    if missing:
        return missing
    generic = max(by_letter[x]["filter_smoothness"] for x in "ab")
    stroke = min(by_letter[x]["filter_smoothness"] for x in "cde")
    return _decide(
        observation,
        stroke > generic,
        "filter smoothness: "
        + _listing(by_letter, ALL_CASES, "filter_smoothness", "{:.3f}"),
    )


def _worst_reconstruction_verdict(by_letter):
    observation = "(d) reconstructs worst"
    missing = _needs(by_letter, ALL_CASES, observation)
    if missing:
        return missing
    worst = max(ALL_CASES, key=lambda x: by_letter[x]["reconstruction_mse"])
    return _decide(
        observation,
        worst == "d",
        "test MSE: "
        + _listing(by_letter, ALL_CASES, "reconstruction_mse", "{:.4f}"),
    )


def _fastest_convergence_verdict(by_letter):
    observation = "(e) converges fastest"
    missing = _needs(by_letter, ALL_CASES, observation)
    if missing:
        return missing
    fastest = min(by_letter[x]["convergence_epoch"] for x in ALL_CASES)
    return _decide(
        observation,
        by_letter["e"]["convergence_epoch"] == fastest,
        "first epoch within 5% of the final cost: "
        + _listing(by_letter, ALL_CASES, "convergence_epoch", "{}"),
    )


def _blurrier_verdict(by_letter, reader_accuracy_on_originals):
    observation = (
        "(c)'s reconstructions are blurrier than (a)'s and (b)'s yet "
        "recognisable"
    )
    missing = _needs(by_letter, "abc", observation)
    if missing:
        return missing
    c = by_letter["c"]
    blurrier = c["sharpness_ratio"] < min(
        by_letter[x]["sharpness_ratio"] for x in "ab"
    )
    recognisable = (
        c["reader_accuracy"]
        >= RECOGNISABLE_FRACTION * reader_accuracy_on_originals
    )
    return _decide(
        observation,
        blurrier and recognisable,
        "sharpness ratio: "
        + _listing(by_letter, "abc", "sharpness_ratio", "{:.3f}")
        + f"; pixel reader on (c)'s reconstructions "
        f"{c['reader_accuracy']:.1%} vs {reader_accuracy_on_originals:.1%} "
        f"on the originals (recognisable from "
        f"{RECOGNISABLE_FRACTION:.0%} of it)",
    )


def write(out_dir, settings, results):
    """Writes `report.json` and `report.md` into `out_dir`.

    Args:
        out_dir: an existing folder, holding the pictures.
        settings: the run's settings, printed at the top.
        results: the measured cases.

    Returns:
        The report as a dict, the content of `report.json`.
    """
    _check_finite(results)
    content = {
        "settings": settings,
        "cases": results,
        "verdicts": verdicts(results, settings["reader_accuracy_on_originals"]),
    }
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(content, f, indent=2)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(_markdown(content))
    return content


def _check_finite(results):
    for result in results:
        for key, _, _ in _COLUMNS:
            if not math.isfinite(result[key]):
                raise ValueError(
                    f"Case ({result['letter']}) measured a non-finite "
                    f"`{key}`: {result[key]!r}. The run diverged; try "
                    "another seed or fewer epochs."
                )


def _markdown(content):
    settings, results = content["settings"], content["cases"]
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
    # The cases module's docstring says how each case is built and where it
    # must differ from the others: one text for the code and the report.
    lines += ["", "## The cases", "", inspect.getdoc(cases).split("\n", 2)[2]]
    lines += ["", "## Measurements", ""]
    lines.append("| case | " + " | ".join(c[1] for c in _COLUMNS) + " |")
    lines.append("| --- " * (len(_COLUMNS) + 1) + "|")
    for r in results:
        cells = [fmt.format(r[key]) for key, _, fmt in _COLUMNS]
        lines.append(
            f"| ({r['letter']}) {r['title']} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "Active units: |code| above 0.5 for the sigmoid cases (a)-(c), "
        "nonzero for (d) and (e). Dead units: never active on a test image. "
        "Linear probe: softmax classifier trained on the frozen codes of "
        "the training images. Pixel reader: softmax classifier trained on "
        "the original training pixels, scoring the test reconstructions. "
        "Filter smoothness: mean correlation of neighbouring pixels in the "
        "filters of live units (near 0 for noise, near 1 for smooth "
        "strokes). Sharpness ratio: mean squared image gradient of the "
        "reconstructions over that of the originals (1 is as sharp).",
        "",
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
        pictures = r["pictures"]
        lines += [
            f"### ({r['letter']}) {r['title']}",
            "",
            f"![filters]({pictures['filters']})",
            "",
            f"![reconstructions]({pictures['reconstructions']})",
            "",
            f"![cost]({pictures['cost']})",
            "",
        ]
    return "\n".join(lines)
