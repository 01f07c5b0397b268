import json
import math
import os

import keras
import numpy as np
import pytest

from sparsekeras.datasets import load_mnist
from sparsekeras.studies import _output, cli
from sparsekeras.studies.five_cases import presets, registry, run
from sparsekeras.studies.five_cases.cases import (
    build_case,
    codes_of,
    fit_quietly,
)
from sparsekeras.studies.five_cases.run import run_comparison

TINY = dict(units=16, k=3, epochs=2, batch_size=64, max_steps=2)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """500 training and 200 test images of the sample: fast probes."""
    (x_train, y_train), (x_test, y_test) = load_mnist(source="embedded")
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(
        path,
        x_train=x_train[:500],
        y_train=y_train[:500],
        x_test=x_test[:200],
        y_test=y_test[:200],
    )
    return str(path)


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory, tiny_data):
    out = tmp_path_factory.mktemp("report")
    content = run_comparison(out, data=tiny_data, verbose=0, **TINY)
    return out, content


def test_tiny_comparison_writes_every_report_file(tiny_report):
    out, content = tiny_report
    expected = {"report.md", "report.json", "cost_curves.png"}
    for case in content["cases"]:
        expected.update(case["pictures"].values())
        expected.add(case["model"])
    assert expected <= {p.name for p in out.iterdir()}
    for name in expected:
        assert (out / name).stat().st_size > 0, name
    settings = json.loads((out / "report.json").read_text())["settings"]
    assert settings["epochs"] == TINY["epochs"]
    assert settings["preset"] == "original"


def test_tiny_comparison_measures_every_case_with_finite_numbers(tiny_report):
    _, content = tiny_report
    assert [c["key"] for c in content["cases"]] == list(registry.KEYS)
    for case in content["cases"]:
        assert case["status"] == "trained"
        for key, value in case.items():
            if isinstance(value, float):
                assert math.isfinite(value), (case["key"], key)
        assert len(case["cost_per_epoch"]) == TINY["epochs"]
    assert len(content["verdicts"]) == 4
    assert all(v["rule"] for v in content["verdicts"])


def test_saved_models_load_in_safe_mode_and_keep_k_per_row(tiny_report):
    out, _ = tiny_report
    images = np.random.default_rng(0).random((8, 784), dtype="float32")
    for key in registry.KEYS:
        model = keras.saving.load_model(out / f"{key}.keras", safe_mode=True)
        codes = codes_of(model, images)
        assert codes.shape == (8, TINY["units"]), key
        if key in ("k_sparse", "neural_sparse_coding"):
            assert np.all(np.count_nonzero(codes, axis=1) == TINY["k"]), key


@pytest.mark.parametrize("key", registry.KEYS)
def test_a_saved_case_gives_the_same_codes_after_loading(key, tmp_path):
    settings = presets.ORIGINAL.with_overrides(units=16, k=3).cases[key]
    keras.utils.set_random_seed(0)
    case = build_case(key, settings, training_steps=2)
    images = np.random.default_rng(0).random((64, 784), dtype="float32")
    if case.prepare is not None:
        case.prepare(images)
    fit_quietly(case.model, images, images, batch_size=32, verbose=0)
    case.model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        codes_of(loaded, images), codes_of(case.model, images), atol=1e-6
    )


def test_a_diverging_case_is_reported_and_the_command_fails(
    tmp_path, tiny_data, capsys, monkeypatch
):
    diverging = dict(presets.ORIGINAL.cases)
    diverging["k_sparse"] = presets.CaseSettings(
        8, optimizer="sgd", learning_rate=1e30, k=3
    )
    monkeypatch.setitem(
        presets.PRESETS,
        "original",
        presets.dataclasses.replace(presets.ORIGINAL, cases=diverging),
    )
    status = cli.main(
        [
            "compare",
            "--cases",
            "a,e",
            "--data",
            tiny_data,
            "--epochs",
            "3",
            "--units",
            "8",
            "--max-steps",
            "2",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert status == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert [c["status"] for c in report["cases"]] == ["trained", "diverged"]
    assert len(report["cases"][1]["cost_per_epoch"]) < 3
    assert "**diverged**" in (tmp_path / "report.md").read_text()
    assert "diverged: k_sparse" in capsys.readouterr().err


def test_command_line_runs_chosen_cases_by_letter(tmp_path, tiny_data):
    status = cli.main(
        [
            "compare",
            "--cases",
            "a,e",
            "--data",
            tiny_data,
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


def test_full_data_without_mnist_is_an_error_not_the_sample(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("SPARSEKERAS_MNIST", str(tmp_path / "missing.npz"))
    with pytest.raises(_output.UserError, match="missing.npz"):
        run_comparison(tmp_path / "out", data="full", verbose=0, **TINY)
    assert not (tmp_path / "out").exists()


def _compare(out, data, *extra):
    return cli.main(
        [
            "compare",
            "--cases",
            "a",
            "--data",
            data,
            "--epochs",
            "1",
            "--units",
            "8",
            "--k",
            "2",
            "--max-steps",
            "1",
            "--out",
            str(out),
            "--quiet",
            *extra,
        ]
    )


def test_a_user_file_in_out_is_refused_before_the_data_is_loaded(
    tmp_path, tiny_data, monkeypatch, capsys
):
    def refuse(data):
        raise AssertionError("loaded the data before checking --out")

    monkeypatch.setattr(run, "_load", refuse)
    (tmp_path / "plain.keras").write_text("the user's model")
    assert _compare(tmp_path, tiny_data) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "plain.keras" in error
    assert "--overwrite" in error
    assert (tmp_path / "plain.keras").read_text() == "the user's model"


def test_a_link_in_out_is_replaced_never_written_through(tmp_path, tiny_data):
    out = tmp_path / "report"
    out.mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    (out / "plain_filters.png").symlink_to(os.path.join("..", "notes.txt"))
    assert _compare(out, tiny_data) == 2
    assert _compare(out, tiny_data, "--overwrite") == 0
    assert notes.read_text() == "my notes"
    assert not (out / "plain_filters.png").is_symlink()
    assert (out / "plain_filters.png").stat().st_size > 0


def test_a_run_that_fails_midway_keeps_the_earlier_report(
    tmp_path, tiny_data, monkeypatch
):
    out = tmp_path / "report"
    assert _compare(out, tiny_data) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def fail(*args):
        raise RuntimeError("failed mid-way")

    monkeypatch.setattr(run, "measure", fail)
    with pytest.raises(RuntimeError, match="mid-way"):
        _compare(out, tiny_data)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["report"]


def test_a_rerun_replaces_what_the_earlier_run_wrote(tmp_path, tiny_data):
    assert _compare(tmp_path, tiny_data, "--cases", "a,e") == 0
    assert (tmp_path / "k_sparse.keras").exists()
    (tmp_path / "notes.txt").write_text("mine")
    assert _compare(tmp_path, tiny_data) == 0
    assert not (tmp_path / "k_sparse.keras").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"
    report = json.loads((tmp_path / "report.json").read_text())
    assert [c["key"] for c in report["cases"]] == ["plain"]


def test_one_image_writes_a_whole_report_with_nulls(tmp_path):
    (x_train, y_train), (x_test, y_test) = load_mnist(source="embedded")
    data = tmp_path / "one.npz"
    np.savez(
        data,
        x_train=x_train[:1],
        y_train=y_train[:1],
        x_test=x_test[:1],
        y_test=y_test[:1],
    )
    out = tmp_path / "report"
    content = run_comparison(
        out, data=str(data), cases="a,e", verbose=0, **TINY
    )
    assert json.loads((out / "report.json").read_text()) == content


def test_the_report_records_the_data_path_as_given(
    tmp_path, tiny_data, monkeypatch
):
    monkeypatch.chdir(os.path.dirname(tiny_data))
    out = tmp_path / "report"
    assert _compare(out, os.path.basename(tiny_data)) == 0
    settings = json.loads((out / "report.json").read_text())["settings"]
    assert settings["data"] == "tiny.npz"
    for name in ("report.json", "report.md"):
        assert str(tmp_path) not in (out / name).read_text()
        assert os.path.dirname(tiny_data) not in (out / name).read_text()
