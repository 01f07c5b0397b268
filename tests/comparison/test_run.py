import json
import math

import pytest

from sparsekeras import cli
from sparsekeras.comparison.cases import CASES
from sparsekeras.comparison.run import run_comparison

TINY = dict(units=16, k=3, epochs=2, batch_size=64, max_steps=2)


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    content = run_comparison(out, probe_epochs=1, verbose=0, **TINY)
    return out, content


def test_tiny_comparison_writes_every_report_file(tiny_report):
    out, content = tiny_report
    expected = {"report.md", "report.json", "cost_curves.png"}
    for case in content["cases"]:
        expected.update(case["pictures"].values())
    assert expected <= {p.name for p in out.iterdir()}
    for name in expected:
        assert (out / name).stat().st_size > 0, name
    assert (
        json.loads((out / "report.json").read_text())["settings"]["epochs"]
        == TINY["epochs"]
    )


def test_tiny_comparison_measures_every_case_with_finite_numbers(tiny_report):
    _, content = tiny_report
    assert [c["key"] for c in content["cases"]] == list(CASES)
    for case in content["cases"]:
        for key, value in case.items():
            if isinstance(value, float):
                assert math.isfinite(value), (case["key"], key)
        assert len(case["cost_per_epoch"]) == TINY["epochs"]
        assert all(math.isfinite(c) for c in case["cost_per_epoch"])
    assert len(content["verdicts"]) == 4


def test_k_sparse_case_keeps_k_units_per_code(tiny_report):
    _, content = tiny_report
    k_sparse = next(c for c in content["cases"] if c["key"] == "k_sparse")
    nsc = next(
        c for c in content["cases"] if c["key"] == "neural_sparse_coding"
    )
    assert k_sparse["active_units"] <= TINY["k"]
    assert nsc["active_units"] <= TINY["k"]


def test_report_says_which_data_it_used(tiny_report):
    out, content = tiny_report
    assert "embedded" in content["settings"]["data"]
    assert "embedded" in (out / "report.md").read_text()


def test_command_line_runs_chosen_cases_by_letter(tmp_path, capsys):
    status = cli.main(
        [
            "compare",
            "--cases",
            "a,e",
            "--epochs",
            "1",
            "--units",
            "8",
            "--k",
            "2",
            "--max-steps",
            "1",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert status == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert [c["letter"] for c in report["cases"]] == ["a", "e"]


def test_command_line_rejects_an_unknown_case(capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--cases", "a,z"])
    assert "unknown case 'z'" in capsys.readouterr().err


def test_full_data_without_mnist_is_an_error_not_the_sample(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("SPARSEKERAS_MNIST", str(tmp_path / "missing.npz"))
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        run_comparison(tmp_path, data="full", verbose=0, **TINY)


def test_command_line_rejects_a_non_integer_epoch_count(capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--epochs", "abc"])
    assert "expected a positive integer, got 'abc'" in capsys.readouterr().err
