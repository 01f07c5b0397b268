"""Every example script runs top to bottom and writes its three pictures."""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = sorted(
    (pathlib.Path(__file__).parents[2] / "examples").glob("[a-e]_*.py")
)


def test_there_is_one_example_per_case():
    assert [p.name[0] for p in EXAMPLES] == list("abcde")


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_and_writes_its_pictures(script, tmp_path):
    environment = dict(os.environ, SPARSEKERAS_EXAMPLE_EPOCHS="1")
    subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=environment,
        check=True,
        capture_output=True,
        timeout=300,
    )
    folder = tmp_path / f"case_{script.name[0]}"
    for picture in ("filters.png", "reconstructions.png", "cost.png"):
        assert (folder / picture).stat().st_size > 0, picture
