"""`python -m benchmarks.sae_toy` runs on tiny settings and writes JSON.

The script has no backend-specific code (it only prints the backend's
name), and the models it trains are tested on every backend under
tests/models, so these smoke tests run on the default backend only.
"""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]


def _sae_toy(*args):
    """Runs `python -m benchmarks.sae_toy ARGS`; its result, stdout as text."""
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.sae_toy", *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.backend_independent
def test_sae_toy_reports_every_figure(tmp_path):
    out = tmp_path / "sae_toy.json"
    _sae_toy(
        "--samples",
        "2048",
        "--epochs",
        "1",
        "--cases",
        "plain TopK,all with BatchTopK",
        "--out",
        str(out),
    )
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"plain TopK", "all with BatchTopK"}
    for row in results.values():
        assert 0 <= row["dead"] <= 1
        assert -1 <= row["recovery"] <= 1
        assert row["fvu"] >= 0 and row["step_ms"] > 0


@pytest.mark.slow
@pytest.mark.backend_independent
def test_sae_toy_times_steps_inside_fit(tmp_path):
    out = tmp_path / "fit_ratio.json"
    _sae_toy(
        "--fit-ratio", "--repeats", "2", "--batch-size", "32", "--out", str(out)
    )
    summary = json.loads(out.read_text())["summary"]
    assert list(summary) == [
        "plain KSparse autoencoder",
        "SparseAutoencoder, every mitigation off",
        "SparseAutoencoder, defaults, 0 dead",
    ]
    assert summary["plain KSparse autoencoder"]["ratio"] == 1.0
    for row in summary.values():
        assert len(row["seconds"]) == 2
