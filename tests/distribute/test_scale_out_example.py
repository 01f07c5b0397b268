"""`examples/scale_out.py` trains on two replicas and saves its model."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).parents[2] / "examples" / "scale_out.py"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_example_trains_on_two_replicas(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    environment = dict(os.environ, KERAS_BACKEND=backend)
    environment.pop("XLA_FLAGS", None)
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--epochs", "1"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "2 replica(s)" in completed.stdout
    assert (tmp_path / "scale_out" / "autoencoder.keras").stat().st_size > 0
    # BackupAndRestore removes its backup once training completes.
    assert not (tmp_path / "scale_out" / "backup").exists()
