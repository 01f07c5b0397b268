"""`python -m benchmarks.synth_sae` runs on tiny settings, writes its table."""

import json
import os

import pytest

from benchmarks import synth_sae


@pytest.mark.slow
def test_synth_sae_writes_the_table(tmp_path):
    out = tmp_path / "synth"
    args = ["--config", "tiny", "--samples", "2048", "--width", "32"]
    args += ["--k", "4", "--batch-size", "256", "--eval-samples", "512"]
    args += ["--generator-batches", "2", "--out", str(out)]
    synth_sae.main(args)
    report = json.loads(out.with_suffix(".json").read_text())
    assert len(report["table"]) == 2
    for row in report["table"].values():
        assert set(synth_sae.COLUMNS) <= set(row)
        assert row["samples_per_second"][0] > 0
    assert report["generator_samples_per_second"] > 0
    assert "| F1 | MCC |" in out.with_suffix(".md").read_text()


@pytest.mark.slow
def test_synth_sae_trains_the_saelens_peer_on_the_same_batches(tmp_path):
    python = os.environ.get("SAELENS_PYTHON")
    if not python:
        pytest.skip("no SAELens venv (set SAELENS_PYTHON)")
    out = tmp_path / "synth"
    args = ["--config", "tiny", "--samples", "2048", "--width", "32"]
    args += ["--k", "4", "--batch-size", "256", "--eval-samples", "512"]
    args += ["--models", "topk", "--peer", "saelens"]
    args += ["--saelens-python", python, "--generator-batches", "2"]
    synth_sae.main([*args, "--out", str(out)])
    report = json.loads(out.with_suffix(".json").read_text())
    assert "SAELens batch_topk (torch)" in report["table"]
    assert report["saelens_generator"]["samples_per_second"] > 0
