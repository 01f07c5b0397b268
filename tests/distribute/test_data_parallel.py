"""Training on two devices ends where training on one does.

Each backend trains in a fresh process (`train_on_two_devices.py`), since
its two host devices must be set up before it starts: TensorFlow's
`MirroredStrategy` over two logical CPUs, and JAX's `DataParallel` over two
host devices. One run per backend serves every test of that backend.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow

WORKER = pathlib.Path(__file__).with_name("train_on_two_devices.py")
CASES = (
    "k_sparse",
    "kl_sparse",
    "neural_sparse_coding",
    "neural_sparse_coding_scheduled",
    "sparse_autoencoder",
)
JAX_CASES = (*CASES, "sparse_autoencoder_batch_topk")
UNEVEN_CASES = ("kl_sparse_uneven", "neural_sparse_coding_uneven")


def train_both_ways(backend, out):
    completed = subprocess.run(
        [sys.executable, str(WORKER), backend, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if completed.returncode != 0:
        pytest.fail(f"{WORKER.name} {backend} failed:\n{completed.stderr}")
    return out


@pytest.fixture(scope="module")
def tensorflow_runs(tmp_path_factory):
    return train_both_ways("tensorflow", tmp_path_factory.mktemp("tf"))


@pytest.fixture(scope="module")
def jax_runs(tmp_path_factory):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed")
    return train_both_ways("jax", tmp_path_factory.mktemp("jax"))


def runs(folder, case):
    return (
        dict(np.load(folder / f"{case}_one.npz")),
        dict(np.load(folder / f"{case}_two.npz")),
    )


def assert_same_training(folder, case):
    one, two = runs(folder, case)
    assert sorted(one) == sorted(two)
    for name in one:
        if name == "reported_loss":
            continue
        if np.issubdtype(one[name].dtype, np.integer):
            np.testing.assert_array_equal(two[name], one[name], err_msg=name)
        else:
            np.testing.assert_allclose(
                two[name], one[name], rtol=1e-5, atol=1e-6, err_msg=name
            )


def test_tensorflow_runs_used_two_replicas(tensorflow_runs):
    devices = json.loads((tensorflow_runs / "devices.json").read_text())
    assert devices == dict.fromkeys(CASES + UNEVEN_CASES, 2)


def test_jax_runs_placed_weights_on_two_devices(jax_runs):
    devices = json.loads((jax_runs / "devices.json").read_text())
    assert devices == dict.fromkeys(JAX_CASES, 2)


@pytest.mark.parametrize("case", CASES)
def test_mirrored_strategy_trains_like_one_device(tensorflow_runs, case):
    assert_same_training(tensorflow_runs, case)


@pytest.mark.parametrize("case", JAX_CASES)
def test_data_parallel_trains_like_one_device(jax_runs, case):
    assert_same_training(jax_runs, case)


@pytest.mark.parametrize("case", UNEVEN_CASES)
def test_mirrored_strategy_is_exact_when_a_batch_splits_unevenly(
    tensorflow_runs, case
):
    # kl_sparse: a last batch of 3 rows, 2 + 1 per replica.
    # neural_sparse_coding: a last batch of 1 row, 1 + 0 per replica.
    assert_same_training(tensorflow_runs, case)


@pytest.mark.parametrize("folder", ["tensorflow_runs", "jax_runs"])
def test_k_sparse_schedule_counts_global_steps(folder, request):
    one, two = runs(request.getfixturevalue(folder), "k_sparse")
    # 32 rows in batches of 8, for 2 epochs: 8 steps, on either device count.
    assert int(one["02_step"]) == int(two["02_step"]) == 8
    assert int(two["05_iteration"]) == 8


@pytest.mark.parametrize("folder", ["tensorflow_runs", "jax_runs"])
def test_neural_sparse_coding_schedule_counts_global_steps(folder, request):
    one, two = runs(
        request.getfixturevalue(folder), "neural_sparse_coding_scheduled"
    )
    # 32 rows in batches of 8, for 2 epochs: 8 steps, on either device count.
    assert int(one["01_step"]) == int(two["01_step"]) == 8


@pytest.mark.parametrize("case", ["k_sparse", "neural_sparse_coding"])
def test_mirrored_strategy_reports_the_one_device_loss(tensorflow_runs, case):
    one, two = runs(tensorflow_runs, case)
    np.testing.assert_allclose(
        two["reported_loss"], one["reported_loss"], rtol=1e-5
    )


@pytest.mark.xfail(
    strict=True,
    reason=(
        "Keras 3.15 keeps a layer's add_loss list on the layer, shared by "
        "MirroredStrategy's replica threads; after a cross-replica "
        "synchronisation replica i logs the activity losses of replicas "
        "0..i. Only the logged loss is off: the weights match."
    ),
)
@pytest.mark.parametrize("case", ["kl_sparse", "sparse_autoencoder"])
def test_mirrored_strategy_reports_the_one_device_add_loss(
    tensorflow_runs, case
):
    one, two = runs(tensorflow_runs, case)
    np.testing.assert_allclose(
        two["reported_loss"], one["reported_loss"], rtol=1e-5
    )


@pytest.mark.parametrize("case", JAX_CASES)
def test_data_parallel_reports_the_one_device_loss(jax_runs, case):
    one, two = runs(jax_runs, case)
    np.testing.assert_allclose(
        two["reported_loss"], one["reported_loss"], rtol=1e-5
    )


@pytest.mark.parametrize("folder", ["tensorflow_runs", "jax_runs"])
def test_sparse_autoencoder_counts_dead_latents_over_the_global_batch(
    folder, request
):
    one, two = runs(request.getfixturevalue(folder), "sparse_autoencoder")
    seen = [name for name in one if name.endswith("samples_seen")]
    since = [name for name in one if name.endswith("samples_since_fired")]
    # 32 rows for 2 epochs: 64 samples, on either device count.
    assert int(one[seen[0]]) == int(two[seen[0]]) == 64
    np.testing.assert_array_equal(two[since[0]], one[since[0]])


@pytest.mark.parametrize("folder", ["tensorflow_runs", "jax_runs"])
def test_sparse_autoencoder_reports_the_one_device_fvu_and_l0(folder, request):
    one, two = runs(request.getfixturevalue(folder), "sparse_autoencoder")
    for name in ("reported_fvu", "reported_l0", "reported_dead_fraction"):
        np.testing.assert_allclose(two[name], one[name], rtol=1e-5)


def test_batch_top_k_selects_within_each_replica_under_mirrored_strategy(
    tensorflow_runs,
):
    # k = 2, 4 rows per replica: 8 kept on each replica, although the
    # global batch's 16 largest all lie on the first replica.
    kept = json.loads((tensorflow_runs / "batch_top_k_kept.json").read_text())
    assert kept == [8, 8]
