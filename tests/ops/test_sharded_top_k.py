"""The exact sharded top-k: per-shard top-k, then the top-k of candidates.

On one device it must equal `ops.top_k`; on eight virtual JAX devices, in a
fresh process (`top_k_on_eight_devices.py`), it must equal one device's
`ops.top_k`, ties included.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from sparsekeras._ops.sharded_top_k import sharded_top_k

BACKEND = keras.backend.backend()
WORKER = pathlib.Path(__file__).with_name("top_k_on_eight_devices.py")


def reference_top_k(x, k):
    """A stable sort of each row: lower indices first among ties."""
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, order, axis=-1), order


ROWS = np.random.default_rng(1).integers(0, 3, size=(2, 3, 12))


@pytest.mark.parametrize("k, shards", [(1, 4), (2, 3), (5, 4), (12, 6)])
def test_equals_the_unsharded_top_k_on_one_device(k, shards):
    x = ROWS.astype("float32")
    values, indices = sharded_top_k(x, k, shards)
    expected_values, expected_indices = reference_top_k(x, k)
    np.testing.assert_array_equal(ops.convert_to_numpy(values), expected_values)
    indices = ops.convert_to_numpy(indices)
    assert indices.dtype == np.int32
    np.testing.assert_array_equal(
        np.take_along_axis(x, indices, axis=-1), expected_values
    )
    if BACKEND != "torch":  # torch.topk orders ties as it likes
        np.testing.assert_array_equal(indices, expected_indices)


@pytest.mark.parametrize(
    "k, shards, name", [(3, 5, "shards"), (0, 4, "k"), (13, 4, "k")]
)
def test_bad_k_or_shards_is_refused(k, shards, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        sharded_top_k(np.zeros((2, 12), "float32"), k, shards)


@pytest.fixture(scope="module")
def eight_devices():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed")
    completed = subprocess.run(
        [sys.executable, str(WORKER)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if completed.returncode != 0:
        pytest.fail(f"{WORKER.name} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.splitlines()[-1])


@pytest.mark.slow
def test_rows_split_over_eight_devices_give_one_devices_top_k(eight_devices):
    assert eight_devices["devices"] == 8
    for name, case in eight_devices["cases"].items():
        rows, size = case["shape"]
        assert case["shard_shape"] == [rows, size // 8], name
        np.testing.assert_array_equal(
            case["values"], case["one_device_values"], err_msg=name
        )
        np.testing.assert_array_equal(
            case["indices"], case["one_device_indices"], err_msg=name
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    "layer, largest",
    [
        # Each device sorts its 32 latents of each row, then the top 5
        # (k + 1) of the row's 8 x 5 candidates: 32 rows of 40.
        ("KSparse", 32 * 40),
        # Each device sorts its 32 x 32 block of the batch, then the top
        # 129 (k x rows + 1) of the 8 x 129 candidates.
        ("BatchTopK", 8 * 129),
    ],
)
def test_each_device_ranks_only_its_latents_and_the_candidates(
    eight_devices, layer, largest
):
    # 32 rows of 256 latents over 8 devices, k = 4: never the 32 x 256
    # entries that a top_k of the gathered batch would rank.
    shapes = eight_devices[f"{layer}_ranked_shapes"]
    assert shapes
    for shape in shapes:
        assert np.prod(shape) <= largest, shapes
