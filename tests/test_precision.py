"""Every component trains together under the mixed precision policies.

Each component's own tests call it under `mixed_float16` and
`mixed_bfloat16`; here one model holding all of them trains with `fit`,
which under `mixed_float16` also scales the loss, and keeps its sparsity
exact and its penalties and dictionary in float32.
"""

import keras
import numpy as np
import pytest
from keras import ops

from sparsekeras.layers import KSparse, NeuralSparseCoding

from components import INPUT_DIM, SCHEDULE, every_component_model, layer_of


def nonzeros_per_row(tensor):
    tensor = ops.convert_to_numpy(ops.cast(tensor, "float32"))
    assert np.all(np.isfinite(tensor))
    return np.count_nonzero(tensor, axis=-1)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_every_component_trains_exactly_sparse_in_float32_state(policy):
    keras.config.set_dtype_policy(policy)
    compute_dtype = keras.DTypePolicy(policy).compute_dtype
    x = np.random.default_rng(0).normal(size=(16, INPUT_DIM))
    x = x.astype("float32")
    model = every_component_model()
    coding = layer_of(model, NeuralSparseCoding)
    sparse = layer_of(model, KSparse)
    start = ops.convert_to_numpy(coding.dictionary)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")

    history = model.fit(x, x, batch_size=8, epochs=3, verbose=0)

    assert np.all(np.isfinite(history.history["loss"]))
    for weight in model.weights:
        assert np.all(np.isfinite(ops.convert_to_numpy(weight))), weight.path
    assert int(ops.convert_to_numpy(sparse.step)) == 6
    assert keras.backend.standardize_dtype(coding.dictionary.dtype) == (
        "float32"
    )
    assert not np.allclose(ops.convert_to_numpy(coding.dictionary), start)

    model(x)
    assert len(model.losses) == 2
    for loss in model.losses:
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
        assert np.isfinite(ops.convert_to_numpy(loss))

    inner = keras.Model(model.input, [coding.output, sparse.output])
    codes, kept = inner(x, training=True)
    for tensor in (codes, kept):
        assert keras.backend.standardize_dtype(tensor.dtype) == compute_dtype
    np.testing.assert_array_equal(nonzeros_per_row(codes), coding.k)
    np.testing.assert_array_equal(nonzeros_per_row(kept), SCHEDULE["k"])
