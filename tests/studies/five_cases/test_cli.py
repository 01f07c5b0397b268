"""`sparsekeras compare` checks its arguments before it trains or writes."""

import pytest

from sparsekeras.studies import cli


def _fails_with_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", *argv])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    return error.strip().splitlines()[-1]


def test_missing_data_file_is_a_usage_error(tmp_path, capsys):
    out = tmp_path / "report"
    message = _fails_with_usage_error(
        ["--data", str(tmp_path / "missing.npz"), "--out", str(out)], capsys
    )
    assert "--data" in message and "missing.npz" in message
    assert not out.exists()


def test_out_under_a_file_is_a_usage_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    message = _fails_with_usage_error(
        ["--out", str(blocker / "report")], capsys
    )
    assert "--out" in message


def test_out_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    message = _fails_with_usage_error(["--out", str(blocker)], capsys)
    assert "not a folder" in message


@pytest.mark.parametrize("seed", ["-1", "5000000000", "1.5"])
def test_seed_outside_its_range_is_a_usage_error(seed, tmp_path, capsys):
    message = _fails_with_usage_error(
        ["--seed", seed, "--out", str(tmp_path / "report")], capsys
    )
    assert "--seed" in message
    assert not (tmp_path / "report").exists()


def test_k_above_units_is_a_usage_error_before_training(tmp_path, capsys):
    message = _fails_with_usage_error(
        ["--units", "10", "--k", "25", "--out", str(tmp_path / "report")],
        capsys,
    )
    assert "k=25" in message and "10" in message
    assert not (tmp_path / "report").exists()


def test_units_below_the_presets_k_is_a_usage_error(tmp_path, capsys):
    message = _fails_with_usage_error(
        ["--units", "10", "--out", str(tmp_path / "report")], capsys
    )
    assert "--k" in message


def test_an_unknown_case_is_a_usage_error(capsys):
    message = _fails_with_usage_error(["--cases", "a,z"], capsys)
    assert "unknown case" in message


def test_an_unknown_preset_is_a_usage_error(capsys):
    message = _fails_with_usage_error(["--preset", "mine"], capsys)
    assert "--preset" in message


def test_a_non_integer_epoch_count_is_a_usage_error(capsys):
    message = _fails_with_usage_error(["--epochs", "abc"], capsys)
    assert "expected an integer, got 'abc'" in message
