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

from sparsekeras.layers import BatchTopK, KSparse, NeuralSparseCoding
from sparsekeras.models import SparseAutoencoder

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


def _bf16_numpy(tensor):
    return ops.convert_to_numpy(ops.cast(tensor, "float32")).astype("float64")


@pytest.mark.parametrize("activation", ["topk", "batch_topk"])
def test_sae_keeps_float32_state_under_mixed_bfloat16(activation):
    keras.config.set_dtype_policy("mixed_bfloat16")
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    sae = SparseAutoencoder(
        12, 2, activation=activation, normalize_inputs=True, dead_after=16
    )
    sae.adapt(x)
    sae.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = sae.fit(x, batch_size=16, epochs=2, verbose=0)

    assert np.all(np.isfinite(history.history["loss"]))
    for weight in sae.weights:
        dtype = keras.backend.standardize_dtype(weight.dtype)
        assert dtype == "float32" or "int" in dtype, weight.path
    if activation == "batch_topk":
        assert sae.selection.threshold.dtype == "float32"
    for variable in sae.optimizer.variables:
        dtype = keras.backend.standardize_dtype(variable.dtype)
        assert dtype == "float32" or "int" in dtype, variable.path
    # The unit-norm constraint acts on the float32 kernel.
    norms = np.linalg.norm(ops.convert_to_numpy(sae.decoder_kernel), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)
    outputs = sae(x, training=True)
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
    (loss,) = sae.losses
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"


def test_sae_loss_subtracts_bfloat16_outputs_in_float32():
    # The loss of bf16 outputs is that of their exact float32 difference,
    # not of a difference rounded to bf16 first.
    keras.config.set_dtype_policy("mixed_bfloat16")
    x = np.random.default_rng(0).normal(size=(256, 6)).astype("float32")
    x = 40.0 * x + 100.0
    sae = SparseAutoencoder(12, 2, pre_bias=None)
    outputs = _bf16_numpy(sae(x))
    (loss,) = sae.losses
    rows = _bf16_numpy(ops.cast(x, "bfloat16"))
    error = np.sum((rows - outputs) ** 2, axis=1).mean()
    variance = np.sum((rows - rows.mean(axis=0)) ** 2, axis=1).mean()
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(loss)), error / variance, rtol=1e-5
    )


def test_batch_topk_compares_with_its_float32_threshold():
    # 0.999 rounds to 1.0 in bf16: a bf16 activation of 1.0 is above the
    # float32 threshold, and must be kept.
    layer = BatchTopK(1, dtype="mixed_bfloat16")
    layer.build((None, 4))
    layer.threshold.assign(0.999)
    inputs = ops.cast(np.array([[1.0, 0.5, 0.25, 0.0]]), "bfloat16")
    kept = ops.convert_to_numpy(ops.cast(layer(inputs), "float32"))
    np.testing.assert_array_equal(kept, [[1.0, 0.0, 0.0, 0.0]])
