"""`python -m benchmarks.synth_sae` runs on tiny settings, writes its table.

The benchmarks are not part of the installed package: like the other
benchmark smoke tests, these run the module in a subprocess from the
repository's root.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).parents[1]
COLUMNS = {"f1", "mcc", "uniqueness", "explained_variance", "l0", "dead"}
TINY = [
    "--config", "tiny", "--samples", "2048", "--width", "32", "--k", "4",
    "--batch-size", "256", "--eval-samples", "512", "--generator-batches", "2",
]  # fmt: skip


def _run(args, out):
    subprocess.run(
        [sys.executable, "-m", "benchmarks.synth_sae", *args, "--out", out],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return json.loads(out.with_suffix(".json").read_text())


@pytest.mark.slow
def test_synth_sae_writes_the_table(tmp_path):
    out = tmp_path / "synth"
    report = _run(TINY, out)
    assert len(report["table"]) == 2
    for row in report["table"].values():
        assert COLUMNS <= set(row)
        assert row["samples_per_second"][0] > 0
    assert report["generator_samples_per_second"] > 0
    assert "| F1 | MCC |" in out.with_suffix(".md").read_text()


@pytest.mark.slow
def test_synth_sae_trains_every_architecture_and_scores_a_curve(tmp_path):
    models = "matryoshka,jumprelu,jumprelu_target"
    args = [*TINY, "--models", models, "--curve-every", "4"]
    report = _run(args, tmp_path / "synth")
    assert len(report["table"]) == 3
    (target,) = [name for name in report["runs"] if "jumprelu_target" in name]
    assert report["args"]["k"] == 4 and report["runs"][target][0]["l0"] > 0
    for runs in report["runs"].values():
        trained = [point["samples_trained"] for point in runs[0]["curve"]]
        # Every 4 steps of 256 samples, then the epoch's end.
        assert trained == [1024, 2048, 2048]
        assert all(0 <= point["f1"] <= 1 for point in runs[0]["curve"])


@pytest.mark.slow
def test_synth_sae_trains_the_saelens_peer_on_the_same_batches(tmp_path):
    python = os.environ.get("SAELENS_PYTHON")
    if not python:
        pytest.skip("no SAELens venv (set SAELENS_PYTHON)")
    args = [*TINY, "--models", "topk", "--peer", "saelens"]
    report = _run([*args, "--saelens-python", python], tmp_path / "synth")
    assert "SAELens batch_topk (torch)" in report["table"]
    assert report["saelens_generator"]["samples_per_second"] > 0


@pytest.mark.slow
def test_synth_sae_trains_bf16_normalized_with_a_schedule(tmp_path):
    args = [*TINY, "--models", "batch_topk", "--dtype", "mixed_bfloat16"]
    args += ["--normalize", "--warmup-steps", "2", "--decay", "cosine"]
    report = _run(args, tmp_path / "synth")
    (name,) = report["table"]
    assert "batch_topk mixed_bfloat16" in name
    (run,) = report["runs"][name]
    assert run["samples_trained"] == 2048
    assert 0.0 < run["explained_variance"] <= 1.0


@pytest.mark.slow
def test_synth_sae_resumes_a_time_budgeted_run_from_its_checkpoint(tmp_path):
    checkpoint = tmp_path / "checkpoint"
    args = [*TINY, "--models", "topk", "--checkpoint", str(checkpoint)]
    out = tmp_path / "synth"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.synth_sae", *args]
        + ["--max-seconds", "0", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert '"unfinished": ["topk seed 0"]' in done.stdout
    assert not out.with_suffix(".json").exists()
    state = json.loads((checkpoint / "topk_seed0.json").read_text())
    assert 1 <= state["steps_done"] < 8
    assert (checkpoint / "topk_seed0.keras").exists()
    report = _run(args, out)
    (name,) = report["runs"]
    (run,) = report["runs"][name]
    assert run["samples_trained"] == 2048
    # The same scores as one uninterrupted run.
    whole = _run([*TINY, "--models", "topk"], tmp_path / "whole")
    (uninterrupted,) = whole["runs"][name]
    for column in COLUMNS:
        np.testing.assert_allclose(
            run[column], uninterrupted[column], rtol=1e-6, err_msg=column
        )


@pytest.mark.slow
def test_synth_sae_refuses_an_unknown_model_before_training(tmp_path):
    failed = subprocess.run(
        [sys.executable, "-m", "benchmarks.synth_sae", *TINY]
        + ["--models", "topk,no_such_sae"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert failed.returncode != 0
    assert "activation" in failed.stderr and "no_such_sae" in failed.stderr
    assert "generator_build_seconds" not in failed.stdout


@pytest.mark.slow
def test_gpu_script_runs_its_chunked_logic_at_a_tiny_size(tmp_path):
    env = {
        **os.environ,
        "CHECKPOINT": str(tmp_path),
        "MODELS": "topk",
        "SMOKE_OUT": str(tmp_path / "smoke"),
        "OUT": str(tmp_path / "out"),
    }
    (tmp_path / "out").mkdir()
    # The backend under test (the script's own default, JAX, may not be
    # installed: CI's first stage has TensorFlow alone).
    env["KERAS_BACKEND"] = os.environ.get("KERAS_BACKEND", "tensorflow")
    done = subprocess.run(
        ["bash", "benchmarks/gpu_synth_16k.sh", "smoke"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert '"unfinished": ["topk seed 0"]' in done.stdout
    report = json.loads((tmp_path / "out" / "smoke.json").read_text())
    (run,) = next(iter(report["runs"].values()))
    assert run["samples_trained"] == 4096
    assert "| F1 | MCC |" in done.stdout


def test_gpu_script_runs_the_published_16k_setting():
    script = (ROOT / "benchmarks" / "gpu_synth_16k.sh").read_text()
    for setting in (
        "--config synthsaebench-16k",
        "--width 4096 --k 25 --batch-size 1024",
        "--lr 3e-4",
        "--samples 200000000",
        "--samples 2000000",
    ):
        assert setting in script
    subprocess.run(["bash", "-n", "benchmarks/gpu_synth_16k.sh"], cwd=ROOT)
