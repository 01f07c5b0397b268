"""`examples/sparse_autoencoder.py` runs top to bottom on tiny settings."""

import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = (
    pathlib.Path(__file__).parents[2] / "examples" / "sparse_autoencoder.py"
)


@pytest.mark.slow
def test_example_trains_and_reads_a_sparse_autoencoder(tmp_path):
    environment = dict(
        os.environ,
        SPARSEKERAS_EXAMPLE_EPOCHS="1",
        SPARSEKERAS_EXAMPLE_SAMPLES="1000",
    )
    completed = subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "dead latents:" in completed.stdout
    assert "MLP accuracy through the SAE" in completed.stdout
