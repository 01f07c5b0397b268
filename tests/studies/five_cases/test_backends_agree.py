"""The default comparison says the same on TensorFlow, JAX and PyTorch.

Each backend runs `sparsekeras compare` (embedded sample, 30 epochs) in
its own subprocess, as Keras reads `KERAS_BACKEND` once. The reports must
give the same verdicts, probe accuracies within 1.5 points and dead
fractions within 3 points. It runs where all three backends are installed
(CI's PyTorch stage), once: under the PyTorch backend.
"""

import importlib.util
import itertools
import json
import os
import subprocess
import sys

import keras
import pytest

BACKENDS = ("tensorflow", "jax", "torch")
# At 10 epochs every case is still within 5% of its final cost in the last
# epochs, and the convergence verdict flips between backends on near-ties
# (measured: TensorFlow (e) 8 vs (d) 6, JAX 9 vs 9); at 30 it is decided.
EPOCHS = "30"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        any(importlib.util.find_spec(b) is None for b in BACKENDS)
        or keras.backend.backend() != "torch",
        reason="needs all three backends; runs once, under PyTorch",
    ),
]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backends")
    # One after the other: PyTorch's CPU threads slow down badly when they
    # share the cores with another backend's process.
    for backend in BACKENDS:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "sparsekeras.studies.cli",
                "compare",
                "--epochs",
                EPOCHS,
                "--out",
                str(folder / backend),
                "--quiet",
            ],
            env=dict(os.environ, KERAS_BACKEND=backend),
            capture_output=True,
            # A guard against a hang, not a speed goal: with a second
            # process on the 2 cores, PyTorch's run passed 900 s.
            timeout=2400,
        )
        assert done.returncode == 0, (backend, done.stderr.decode()[-3000:])
    return {
        backend: json.loads((folder / backend / "report.json").read_text())
        for backend in BACKENDS
    }


def _pairs():
    return list(itertools.combinations(BACKENDS, 2))


def test_backends_reach_the_same_verdicts(reports):
    for first, second in _pairs():
        assert [v["verdict"] for v in reports[first]["verdicts"]] == [
            v["verdict"] for v in reports[second]["verdicts"]
        ], (first, second)


@pytest.mark.parametrize(
    "field, tolerance", [("probe_accuracy", 0.015), ("dead_fraction", 0.03)]
)
def test_backends_measure_within_tolerance(reports, field, tolerance):
    for first, second in _pairs():
        for a, b in zip(
            reports[first]["cases"], reports[second]["cases"], strict=True
        ):
            assert abs(a[field] - b[field]) <= tolerance, (
                a["key"],
                field,
                first,
                a[field],
                second,
                b[field],
            )
