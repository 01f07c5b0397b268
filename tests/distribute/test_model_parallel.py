"""A SparseAutoencoder with its latents split over eight devices trains as
one device does.

`train_sharded_sae.py` trains each case in a fresh process (JAX takes its
eight host devices from `XLA_FLAGS` when it starts) once with no
distribution and once under `ModelParallel` with `sae_layout_map`; one run
serves every test. In the JAX stage only: the layout is JAX's.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        keras.backend.backend() != "jax",
        reason="ModelParallel is JAX's; runs with KERAS_BACKEND=jax",
    ),
]

WORKER = pathlib.Path(__file__).with_name("train_sharded_sae.py")
INPUT_DIM, UNITS = 16, 64
AUX_K = INPUT_DIM // 2
CASES = ["topk", "batch_topk", "matryoshka"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed")
    out = tmp_path_factory.mktemp("model_parallel")
    completed = subprocess.run(
        [sys.executable, str(WORKER), str(out), *CASES],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if completed.returncode != 0:
        pytest.fail(f"{WORKER.name} failed:\n{completed.stderr}")
    return out


def both(runs, case):
    one = dict(np.load(runs / f"{case}_one.npz"))
    sharded = dict(np.load(runs / f"{case}_sharded.npz"))
    assert sorted(one) == sorted(sharded)
    return one, sharded


@pytest.mark.parametrize("case", CASES)
def test_latents_are_split_over_the_model_axis(runs, case):
    report = json.loads((runs / f"{case}.json").read_text())
    _, model_devices = report["mesh"]
    assert report["devices"] == 8
    assert report["encoder_block"] == [INPUT_DIM, UNITS // model_devices]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("when", ["codes_before", "codes_after"])
def test_sharded_codes_are_one_devices(runs, case, when):
    one, sharded = both(runs, case)
    np.testing.assert_array_equal(sharded[when] != 0, one[when] != 0)
    np.testing.assert_allclose(sharded[when], one[when], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_sharded_training_ends_with_one_devices_weights(runs, case):
    one, sharded = both(runs, case)
    for name in one:
        if name.startswith("codes"):
            continue
        if np.issubdtype(one[name].dtype, np.integer):
            # The dead-latent counters, the steps, the dead count per step.
            np.testing.assert_array_equal(sharded[name], one[name], name)
        else:
            np.testing.assert_allclose(
                sharded[name], one[name], rtol=1e-4, atol=1e-6, err_msg=name
            )


@pytest.mark.parametrize("case", CASES)
def test_auxk_ranked_dead_latents_both_ways(runs, case):
    # Up to aux_k dead latents are all taken; more are ranked by top-k.
    one, _ = both(runs, case)
    dead = one["dead"]
    assert np.any((dead > 0) & (dead <= AUX_K)), dead
    assert np.any(dead > AUX_K), dead
