"""`sparsekeras` checks its arguments before it trains or writes.

Every user error is one line on stderr and exit status 2.
"""

import importlib.util
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from sparsekeras.studies import _data, _output, cli, makhzani_table1


def _exit_status(argv):
    try:
        return cli.main(argv)
    except SystemExit as exit_info:
        return exit_info.code


def _fails_with_usage_error(argv, capsys, command="compare"):
    assert _exit_status([command, *argv]) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    lines = error.strip().splitlines()
    assert len(lines) == 1, error
    return lines[0]


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
    assert "--cases" in message and "case='z'" in message


def test_an_unknown_preset_is_a_usage_error(capsys):
    message = _fails_with_usage_error(["--preset", "mine"], capsys)
    assert "--preset" in message


def test_a_non_integer_epoch_count_is_a_usage_error(capsys):
    message = _fails_with_usage_error(["--epochs", "abc"], capsys)
    assert "expected an integer, got 'abc'" in message


def test_a_case_named_twice_is_refused_not_trained_twice(tmp_path, capsys):
    message = _fails_with_usage_error(
        ["--cases", "a,plain", "--out", str(tmp_path / "report")], capsys
    )
    assert "--cases" in message and "plain more than once" in message
    assert "refused" in message


def test_huge_units_is_a_usage_error(tmp_path, capsys):
    message = _fails_with_usage_error(
        ["--units", str(10**12), "--out", str(tmp_path / "report")], capsys
    )
    assert "--units" in message and str(10**12) in message


def test_full_data_with_a_missing_variable_file_is_a_usage_error(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv(cli.MNIST_VARIABLE, str(tmp_path / "gone.npz"))
    message = _fails_with_usage_error(["--data", "full"], capsys)
    assert "gone.npz" in message


def test_the_variable_name_is_the_loaders():
    from sparsekeras.datasets.mnist import ENVIRONMENT_VARIABLE

    assert cli.MNIST_VARIABLE == ENVIRONMENT_VARIABLE


def test_debug_shows_the_traceback_of_a_user_error(tmp_path):
    with pytest.raises(_output.UserError, match="more than once"):
        cli.main(["compare", "--cases", "a,a", "--debug"])


@pytest.fixture
def no_table1_data(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("loaded data before checking the arguments")

    monkeypatch.setattr(_data, "load_mnist", refuse)


def test_table1_out_that_is_a_file_is_refused_before_loading(
    tmp_path, capsys, no_table1_data
):
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    message = _fails_with_usage_error(
        ["--data", "full", "--out", str(blocker)], capsys, "makhzani-table1"
    )
    assert "not a folder" in message
    assert blocker.read_text() == "mine"


def test_table1_seed_outside_its_range_is_a_usage_error(capsys):
    message = _fails_with_usage_error(
        ["--data", "full", "--seed", "-1"], capsys, "makhzani-table1"
    )
    assert "--seed" in message


def test_table1_needs_data_or_quick(capsys, no_table1_data):
    message = _fails_with_usage_error([], capsys, "makhzani-table1")
    assert "--data" in message and "--quick" in message


def test_table1_refuses_the_sample_without_quick(
    tmp_path, capsys, no_table1_data
):
    message = _fails_with_usage_error(
        ["--data", "embedded", "--out", str(tmp_path / "out")],
        capsys,
        "makhzani-table1",
    )
    assert "60,000" in message and "--quick" in message


def test_corrupt_data_is_one_line_and_exit_2(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip archive")
    message = _fails_with_usage_error(
        [
            "--data",
            str(corrupt),
            "--out",
            str(tmp_path / "out"),
            "--cases",
            "a",
            "--quiet",
        ],
        capsys,
    )
    assert "--data" in message and "corrupt.npz" in message
    assert not (tmp_path / "out").exists()


def test_full_data_offline_is_one_line_and_exit_2(
    tmp_path, capsys, monkeypatch
):
    def offline(*args, **kwargs):
        raise Exception(
            "URL fetch failure on https://example/mnist.npz: None -- "
            "[Errno -3] Temporary failure in name resolution"
        )

    monkeypatch.delenv(cli.MNIST_VARIABLE, raising=False)
    monkeypatch.setattr(_data, "load_mnist", offline)
    message = _fails_with_usage_error(
        ["--data", "full", "--out", str(tmp_path / "out"), "--quiet"], capsys
    )
    assert "--data full" in message and "name resolution" in message
    assert not (tmp_path / "out").exists()


def test_table1_corrupt_data_is_one_line_and_exit_2(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.npz"
    np.save(tmp_path / "not_an_archive.npy", np.zeros(3))
    corrupt.write_bytes((tmp_path / "not_an_archive.npy").read_bytes())
    message = _fails_with_usage_error(
        ["--data", str(corrupt), "--out", str(tmp_path / "out")],
        capsys,
        "makhzani-table1",
    )
    assert "corrupt.npz" in message
    assert not (tmp_path / "out").exists()


def _command(*argv, env=None, timeout=120):
    """Runs the `sparsekeras` console script's target in a subprocess."""
    paths = [ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sparsekeras_cli", *argv],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done, time.perf_counter() - started


ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
# A line of TensorFlow's, absl's or XLA's own logging, e.g.
# "I0000 00:00:1796601014.434846   11667 port.cc:153] oneDNN custom ...".
BACKEND_LOG_LINE = re.compile(
    r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+|absl::|cuInit|^WARNING:tensorflow",
    re.MULTILINE,
)


def test_the_console_script_is_the_quick_launcher():
    with open(os.path.join(ROOT, "pyproject.toml")) as file:
        assert 'sparsekeras = "sparsekeras_cli:main"' in file.read()


@pytest.mark.parametrize("argv", [["--help"], ["compare", "--help"]])
def test_help_answers_within_two_seconds_without_backend_lines(argv):
    done, seconds = _command(*argv)
    assert done.returncode == 0, done.stderr
    assert "usage: sparsekeras" in done.stdout
    assert done.stderr == ""
    assert seconds <= 2.0, seconds


def test_an_argument_error_answers_within_two_seconds(tmp_path):
    done, seconds = _command(
        "compare", "--cases", "a,a", "--out", str(tmp_path / "out")
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "more than once" in done.stderr
    assert seconds <= 2.0, seconds


def test_parsing_the_arguments_imports_no_keras():
    code = (
        "import sys, sparsekeras_cli; "
        "assert sparsekeras_cli.main(['compare', '--cases', 'a,a']) == 2; "
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.slow
def test_a_training_run_prints_no_backend_log_line(tmp_path):
    done, _ = _command(
        "compare",
        "--cases",
        "a",
        "--epochs",
        "1",
        "--units",
        "8",
        "--max-steps",
        "1",
        "--out",
        str(tmp_path / "out"),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not BACKEND_LOG_LINE.search(done.stderr), done.stderr[-2000:]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX")
def test_the_jax_backend_never_imports_tensorflow():
    code = (
        "import sys, sparsekeras_cli; "
        "assert sparsekeras_cli.main(['compare', '--cases', 'a,a']) == 2; "
        "from sparsekeras.studies import cli; "
        "cli.start_library(); "
        "import keras; "
        "from sparsekeras.studies.five_cases import run; "
        "keras.utils.set_random_seed(0); "
        "print(keras.backend.backend(), 'tensorflow' in sys.modules "
        "and sys.modules['tensorflow'] is not None)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip().splitlines()[-1] == "jax False", done.stderr


def test_the_table1_files_checked_early_are_those_it_writes():
    assert cli.TABLE1 == makhzani_table1.COMMAND
    assert cli.TABLE1_FILES == makhzani_table1.FILES
