"""The argument ranges every component shares (`sparsekeras._validation`).

Arguments are computed with in float32 and counted in int32 (steps on JAX
and PyTorch), so a value either cannot hold is refused at construction,
naming the argument, instead of giving NaN, inf or a backend error later.
"""

import keras
import numpy as np
import pytest
from keras import ops

from sparsekeras.layers import (
    BatchTopK,
    KSparse,
    NeuralSparseCoding,
    SparseDense,
    TiedDense,
)
from sparsekeras.regularizers import KLSparsityRegularizer, WeightDecay

FLOAT32_TINY = float(np.finfo(np.float32).tiny)
INT32_MAX = 2**31 - 1

OUT_OF_RANGE = [
    (KLSparsityRegularizer, {"rho": 1 - 1e-8}, "rho"),
    (KLSparsityRegularizer, {"rho": 1e-39}, "rho"),
    (KLSparsityRegularizer, {"beta": 1e39}, "beta"),
    (WeightDecay, {"strength": 1e39}, "strength"),
    (WeightDecay, {"strength": 1e-40}, "strength"),
    (
        NeuralSparseCoding,
        {"units": 4, "k": 1, "learning_rate": 1e39},
        "learning_rate",
    ),
    (NeuralSparseCoding, {"units": 4, "threshold": 1e39}, "threshold"),
    (NeuralSparseCoding, {"units": 4, "threshold": 1e-45}, "threshold"),
    (NeuralSparseCoding, {"units": 2**31, "k": 1}, "units"),
    (
        NeuralSparseCoding,
        {"units": 4, "k": 1, "refine_steps": 2**31},
        "refine_steps",
    ),
    (KSparse, {"k": 2, "alpha": 1e308}, "alpha"),
    (KSparse, {"k": 2**31}, "k"),
    (KSparse, {"k": 2, "k_start": 2**40}, "k_start"),
    (KSparse, {"k": 2, "k_start": 3, "anneal_steps": 2**63}, "anneal_steps"),
    (SparseDense, {"units": 2**31, "input_dim": 4}, "units"),
    (SparseDense, {"units": 2, "input_dim": 2**31}, "input_dim"),
]


@pytest.mark.parametrize(
    "component, kwargs, name",
    OUT_OF_RANGE,
    ids=[f"{c.__name__}-{n}-{i}" for i, (c, _, n) in enumerate(OUT_OF_RANGE)],
)
def test_value_float32_or_int32_cannot_hold_is_refused(component, kwargs, name):
    with pytest.raises(ValueError, match=f"Invalid value for `{name}`"):
        component(**kwargs)


def _penalty(regularizer):
    x = np.array([[0.1, 0.9], [0.0, 1.0]], "float32")
    return float(ops.convert_to_numpy(regularizer.penalty(x)))


@pytest.mark.parametrize(
    "rho", [float(np.nextafter(np.float32(1), np.float32(0))), FLOAT32_TINY]
)
def test_extreme_rho_float32_holds_gives_a_finite_penalty(rho):
    assert np.isfinite(_penalty(KLSparsityRegularizer(rho=rho)))


def test_largest_anneal_steps_trains_on_every_backend():
    layer = KSparse(2, k_start=4, anneal_steps=INT32_MAX)
    x = np.arange(12, dtype="float32").reshape(2, 6)

    outputs = ops.convert_to_numpy(layer(x, training=True))

    assert (outputs != 0).sum(axis=1).tolist() == [4, 4]


NON_FLOAT = ["int32", "int64", "uint8", "bool"]


@pytest.mark.parametrize("dtype", NON_FLOAT)
@pytest.mark.parametrize(
    "component, kwargs",
    [
        (KSparse, {"k": 2}),
        (NeuralSparseCoding, {"units": 4, "k": 2}),
        (SparseDense, {"units": 4, "input_dim": 8}),
        (BatchTopK, {"k": 2}),
        (TiedDense, {"encoder": keras.layers.Dense(4)}),
    ],
    ids=[
        "KSparse",
        "NeuralSparseCoding",
        "SparseDense",
        "BatchTopK",
        "TiedDense",
    ],
)
def test_non_float_dtype_is_refused_at_construction(component, kwargs, dtype):
    with pytest.raises(TypeError, match="expected a floating-point dtype"):
        component(**kwargs, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "mixed_float16"])
def test_float_dtypes_are_accepted(dtype):
    assert KSparse(2, dtype=dtype).compute_dtype in ("float16", "bfloat16")
    assert keras.backend.is_float_dtype(
        NeuralSparseCoding(4, k=2, dtype=dtype).compute_dtype
    )
