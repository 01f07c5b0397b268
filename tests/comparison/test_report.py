import json

import pytest

from sparsekeras.comparison import report


def _result(letter, **overrides):
    result = {
        "key": f"case_{letter}",
        "letter": letter,
        "title": f"Case {letter}",
        "reconstruction_mse": 0.01,
        "active_units": 25.0,
        "active_threshold": 0.0,
        "mean_activation": 0.1,
        "dead_fraction": 0.0,
        "probe_accuracy": 0.9,
        "reader_accuracy": 0.9,
        "filter_smoothness": 0.5,
        "sharpness_ratio": 0.8,
        "convergence_epoch": 5,
        "wall_time_s": 1.0,
        "cost_per_epoch": [2.0, 1.0],
        "pictures": {
            "filters": "f.png",
            "reconstructions": "r.png",
            "cost": "c.png",
        },
    }
    result.update(overrides)
    return result


def _original_outcome():
    """Measurements that agree with every observation of the comparison."""
    return [
        _result("a", filter_smoothness=0.05, sharpness_ratio=0.9),
        _result("b", filter_smoothness=0.10, sharpness_ratio=0.85),
        _result(
            "c",
            filter_smoothness=0.60,
            sharpness_ratio=0.6,
            reader_accuracy=0.88,
        ),
        _result(
            "d",
            filter_smoothness=0.70,
            reconstruction_mse=0.05,
            convergence_epoch=9,
        ),
        _result("e", filter_smoothness=0.65, convergence_epoch=2),
    ]


def _verdict_of(results, index):
    return report.verdicts(results, 0.92)[index]["verdict"]


def test_every_observation_is_reproduced_when_numbers_agree():
    assert [
        v["verdict"] for v in report.verdicts(_original_outcome(), 0.92)
    ] == [report.REPRODUCED] * 4


@pytest.mark.parametrize(
    "letter, change, observation",
    [
        ("b", {"filter_smoothness": 0.61}, 0),
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
    index = "abcde".index(letter)
    results[index] = {**results[index], **change}
    assert _verdict_of(results, observation) == report.NOT_REPRODUCED


def test_observations_needing_a_missing_case_are_not_measured():
    results = [r for r in _original_outcome() if r["letter"] != "d"]
    verdicts = report.verdicts(results, 0.92)
    assert [v["verdict"] for v in verdicts] == [
        report.NOT_MEASURED,
        report.NOT_MEASURED,
        report.NOT_MEASURED,
        report.REPRODUCED,
    ]
    assert "(d)" in verdicts[0]["evidence"]


def test_evidence_quotes_the_deciding_numbers():
    verdict = report.verdicts(_original_outcome(), 0.92)[1]
    assert "(d) 0.0500" in verdict["evidence"]


def test_write_produces_markdown_and_json(tmp_path):
    settings = {"epochs": 2, "reader_accuracy_on_originals": 0.92}
    content = report.write(tmp_path, settings, _original_outcome())
    loaded = json.loads((tmp_path / "report.json").read_text())
    assert loaded == json.loads(json.dumps(content))
    markdown = (tmp_path / "report.md").read_text()
    assert "| (e) Case e |" in markdown
    assert markdown.count("**reproduced**") == 4
    assert "![filters](f.png)" in markdown


def test_write_refuses_non_finite_measurements(tmp_path):
    results = _original_outcome()
    results[2]["reconstruction_mse"] = float("nan")
    with pytest.raises(ValueError, match=r"\(c\).*reconstruction_mse"):
        report.write(tmp_path, {"reader_accuracy_on_originals": 0.9}, results)
