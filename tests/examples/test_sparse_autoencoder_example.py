"""`examples/sparse_autoencoder.py` runs top to bottom on tiny settings."""

import pathlib
import subprocess
import sys

import pytest

SCRIPT = (
    pathlib.Path(__file__).parents[2] / "examples" / "sparse_autoencoder.py"
)


@pytest.mark.slow
def test_example_trains_and_reads_a_sparse_autoencoder(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--epochs", "1", "--samples", "1000", "--out", "sae"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "dead latents:" in completed.stdout
    # The two counts of silent latents say why both can hold at once.
    assert "fired on none of the last 1,000 training samples" in (
        completed.stdout
    )
    assert "fire on some training image (rare, not dead)" in completed.stdout
    assert "MLP accuracy through the SAE" in completed.stdout
    assert (tmp_path / "sae" / "sae.keras").stat().st_size > 0
