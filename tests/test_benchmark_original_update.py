"""The original comparison's (d) update in `neural_sparse_coding_variants`.

In a fresh process: torch must be imported before TensorFlow, not after.
"""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]

# `benchmarks` first: it imports torch before TensorFlow.
ONE_STEP = """
from benchmarks import neural_sparse_coding_variants as variants
import keras, numpy as np
case = variants.original_update_case()
model = case.model
x = np.random.default_rng(0).uniform(size=(8, 784)).astype("float32")
model.compile(optimizer=keras.optimizers.SGD(1.0), loss=model.loss)
w = keras.ops.convert_to_numpy(model.get_layer("codes").kernel).copy()
h = x @ w
tau = np.mean(-np.sort(-h, axis=1)[:, :50])
codes = h * (h >= tau)
delta = np.outer((x - codes @ w.T).sum(0), np.sign(codes).sum(0))
model.train_on_batch(x, x)
moved = keras.ops.convert_to_numpy(model.get_layer("codes").kernel) - w
np.testing.assert_allclose(moved, delta, rtol=1e-3, atol=1e-3)
assert np.abs(delta).max() > 1.0
print("ok")
"""


@pytest.mark.slow
def test_one_sgd_step_moves_the_atoms_by_the_batch_summed_update():
    pytest.importorskip("torch")
    done = subprocess.run(
        [sys.executable, "-c", ONE_STEP],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
