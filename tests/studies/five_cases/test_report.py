import dataclasses
import json

import pytest

from sparsekeras.studies.five_cases import registry, report
from sparsekeras.studies.five_cases.results import DIVERGED, CaseResult


def _result(letter, **overrides):
    name = registry.lookup(letter)
    result = CaseResult(
        name.key,
        name.letter,
        name.title,
        reconstruction_mse=0.01,
        active_units=25.0,
        active_threshold=0.0,
        mean_activation=0.1,
        dead_fraction=0.0,
        probe_accuracy=0.9,
        reader_accuracy=0.9,
        filter_smoothness=0.5,
        class_selectivity=0.3,
        stroke_fraction=0.5,
        sharpness_ratio=0.8,
        convergence_epoch=5,
        wall_time_s=1.0,
        cost_per_epoch=[2.0, 1.0],
        pictures={"filters": f"{letter}_f.png"},
        model=f"{name.key}.keras",
    )
    return dataclasses.replace(result, **overrides)


def _original_outcome():
    """Measurements that agree with every observation of the comparison."""
    return [
        _result(
            "a",
            class_selectivity=0.13,
            stroke_fraction=0.1,
            sharpness_ratio=0.9,
        ),
        _result(
            "b",
            class_selectivity=0.14,
            stroke_fraction=0.2,
            sharpness_ratio=0.85,
        ),
        _result("c", sharpness_ratio=0.6, reader_accuracy=0.88),
        _result("d", reconstruction_mse=0.05, convergence_epoch=9),
        _result("e", convergence_epoch=2),
    ]


def _verdicts(results):
    return [v["verdict"] for v in report.verdicts(results, 0.92)]


def test_every_observation_is_reproduced_when_numbers_agree():
    assert _verdicts(_original_outcome()) == [report.REPRODUCED] * 4


@pytest.mark.parametrize(
    "letter, change, observation",
    [
        ("b", {"class_selectivity": 0.31}, 0),
        ("d", {"stroke_fraction": 0.25}, 0),
        ("b", {"stroke_fraction": 0.3}, 0),
        ("a", {"reconstruction_mse": 0.06}, 1),
        ("c", {"convergence_epoch": 1}, 2),
        ("c", {"sharpness_ratio": 0.95}, 3),
        ("c", {"reader_accuracy": 0.5}, 3),
    ],
)
def test_an_observation_contradicted_by_the_numbers_is_not_reproduced(
    letter, change, observation
):
    results = _original_outcome()
    index = registry.LETTERS.index(letter)
    results[index] = dataclasses.replace(results[index], **change)
    assert _verdicts(results)[observation] == report.NOT_REPRODUCED


def test_observations_needing_a_missing_case_are_not_measured():
    results = [r for r in _original_outcome() if r.letter != "d"]
    verdicts = report.verdicts(results, 0.92)
    assert [v["verdict"] for v in verdicts] == [
        report.NOT_MEASURED,
        report.NOT_MEASURED,
        report.NOT_MEASURED,
        report.REPRODUCED,
    ]
    assert "(d)" in verdicts[0]["evidence"]


def test_every_verdict_states_its_rule():
    for verdict in report.verdicts(_original_outcome(), 0.92):
        assert verdict["rule"]


def test_evidence_quotes_the_deciding_numbers():
    verdict = report.verdicts(_original_outcome(), 0.92)[1]
    assert "(d) 0.0500" in verdict["evidence"]


def test_write_produces_markdown_and_json(tmp_path):
    settings = {"preset": "original", "reader_accuracy_on_originals": 0.92}
    content = report.write(tmp_path, settings, _original_outcome())
    loaded = json.loads((tmp_path / "report.json").read_text())
    assert loaded == json.loads(json.dumps(content))
    assert loaded["settings"]["preset"] == "original"
    markdown = (tmp_path / "report.md").read_text()
    assert "| (e) k-sparse autoencoder |" in markdown
    assert markdown.count("**reproduced**") == 4
    assert "![filters](a_f.png)" in markdown


def test_rules_come_before_the_numbers(tmp_path):
    settings = {"reader_accuracy_on_originals": 0.92}
    report.write(tmp_path, settings, _original_outcome())
    markdown = (tmp_path / "report.md").read_text()
    rule = report.OBSERVATIONS[1][1]
    assert markdown.index(rule) < markdown.index("## Measurements")


def test_a_diverged_case_is_reported_and_its_verdicts_not_measured(tmp_path):
    results = _original_outcome()
    results[2] = CaseResult(
        "kl_sparse",
        "c",
        "KL",
        status=DIVERGED,
        cost_per_epoch=[1.0, float("nan")],
    )
    content = report.write(
        tmp_path, {"reader_accuracy_on_originals": 0.9}, results
    )
    loaded = json.loads((tmp_path / "report.json").read_text())
    assert loaded["cases"][2]["status"] == DIVERGED
    assert loaded["cases"][2]["cost_per_epoch"] == [1.0, None]
    assert [v["verdict"] for v in content["verdicts"]] == [
        report.NOT_MEASURED
    ] * 4
    assert "**diverged**" in (tmp_path / "report.md").read_text()
