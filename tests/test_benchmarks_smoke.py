"""`python -m benchmarks.run --quick` runs every benchmark and writes them.

The benchmarks need scikit-learn and PyTorch (the `benchmarks` extra), so
this test is skipped where they are missing, as under `.[test]` alone.
"""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]
FILES = (
    "results.md",
    "results.json",
    "cost_of_sparsity.png",
    "dictionary_recovery.png",
)


@pytest.mark.slow
def test_quick_run_writes_tables_json_and_plots(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", tmp_path],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    for name in FILES:
        assert (tmp_path / name).stat().st_size > 0, name
    results = json.loads((tmp_path / "results.json").read_text())
    step_times = results["step_time"]["summary"].values()
    assert all(row["median_s"] > 0 for row in step_times)
    assert set(results["ksparse_vs_torch"]) == {
        results["machine"]["keras_backend"],
        "torch",
    }
    assert "## Goals" in (tmp_path / "results.md").read_text()
