"""Every example script answers `--help` at once, and runs top to bottom."""

import pathlib
import subprocess
import sys
import time

import pytest

FOLDER = pathlib.Path(__file__).parents[2] / "examples"
EXAMPLES = sorted(FOLDER.glob("[a-e]_*.py"))
HELP_SECONDS = 3.0


def test_there_is_one_example_per_case():
    assert [p.name[0] for p in EXAMPLES] == list("abcde")


# argparse answers before Keras, and so a backend, is imported.
@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "script", sorted(FOLDER.glob("*.py")), ids=lambda p: p.stem
)
def test_example_answers_help_at_once_without_training(script, tmp_path):
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    seconds = time.perf_counter() - start
    assert completed.returncode == 0, completed.stderr
    assert "--epochs" in completed.stdout
    assert "--out" in completed.stdout
    assert seconds <= HELP_SECONDS, f"--help took {seconds:.1f} s"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_and_writes_its_pictures(script, tmp_path):
    folder = tmp_path / "pictures"
    subprocess.run(
        [sys.executable, str(script), "--epochs", "1", "--out", str(folder)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=300,
    )
    for picture in ("filters.png", "reconstructions.png", "cost.png"):
        assert (folder / picture).stat().st_size > 0, picture
