"""The original comparison's (e) pieces in `benchmarks.k_sparse_variants`."""

import importlib.util
import math
import pathlib

import keras
import numpy as np

# By its path: `benchmarks/__init__.py` imports torch first, which must not
# follow TensorFlow into one process.
_PATH = pathlib.Path(__file__).parents[1] / "benchmarks/k_sparse_variants.py"
_SPEC = importlib.util.spec_from_file_location("k_sparse_variants", _PATH)
variants = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(variants)


def _original_adam(gradients, rate, beta_1=0.9, beta_2=0.999, eps=1e-8):
    """The original's Adam: moments divided by 1 − β, not 1 − βᵗ."""
    w, m, v, path = 0.0, 0.0, 0.0, []
    for g in gradients:
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        w -= rate * (m / (1 - beta_1)) / (math.sqrt(v / (1 - beta_2)) + eps)
        path.append(w)
    return np.array(path)


def test_original_adam_rate_steps_as_the_hand_written_adam():
    gradients = np.random.default_rng(0).normal(size=600) + 0.3
    # Keras adds ε to √v; the original adds it to √(v / (1 − β₂)).
    optimizer = keras.optimizers.Adam(
        variants.OriginalAdamRate(1e-3), epsilon=1e-8 * math.sqrt(1e-3)
    )
    w = keras.Variable(np.zeros(()), dtype="float32")
    path = []
    for g in gradients:
        optimizer.apply([keras.ops.convert_to_tensor(g, "float32")], [w])
        path.append(float(keras.ops.convert_to_numpy(w)))
    expected = _original_adam(gradients, 1e-3)
    np.testing.assert_allclose(path, expected, rtol=1e-3, atol=1e-6)
    # Not Keras's own Adam: by step 600 its steps are 2.1 times larger.
    keras_adam = keras.optimizers.Adam(1e-3, epsilon=1e-8 * math.sqrt(1e-3))
    w2 = keras.Variable(np.zeros(()), dtype="float32")
    last = []
    for g in gradients:
        keras_adam.apply([keras.ops.convert_to_tensor(g, "float32")], [w2])
        last = [*last[-1:], float(keras.ops.convert_to_numpy(w2))]
    assert abs(last[1] - last[0]) > 1.8 * abs(path[-1] - path[-2])


def test_batch_threshold_keeps_every_unit_above_the_batch_smallest_kth():
    h = np.array([[5.0, 4.0, 3.0, 2.0, 1.0], [9.0, 8.0, 0.5, 0.4, 0.3]])
    kept = keras.ops.convert_to_numpy(variants.BatchThreshold(2)(h))
    # The 2nd largest of the rows are 4 and 8: every unit >= 4 stays.
    np.testing.assert_array_equal(
        kept, [[5.0, 4.0, 0, 0, 0], [9.0, 8.0, 0, 0, 0]]
    )
    h[0, 1] = 7.0  # now the smallest 2nd largest is 7: row 1 keeps 2
    kept = keras.ops.convert_to_numpy(variants.BatchThreshold(2)(h))
    assert np.count_nonzero(kept, axis=1).tolist() == [2, 2]
    h[1, 2] = 7.5  # row 2 has three units >= 7: it keeps three
    kept = keras.ops.convert_to_numpy(variants.BatchThreshold(2)(h))
    assert np.count_nonzero(kept, axis=1).tolist() == [2, 3]
