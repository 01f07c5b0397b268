"""The chunk-maxima top-k, and the selection that runs on it.

Each property is checked against a sort-based NumPy reference (a stable
sort of the row, NaN ranked as +inf: lower indices first among ties) on
rows with planted ties, NaN and `±inf`, with chunks of 4 entries so that
narrow rows cross many chunk boundaries. The selection's thresholds are
lowered for these tests so that every row takes the chunk method.
"""

import contextlib

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import ops

from sparsekeras._ops import selection as _selection
from sparsekeras._ops import top_k as _fast_top_k
from sparsekeras._ops import tuning
from sparsekeras.layers import BatchTopK, KSparse
from sparsekeras.testing import strategies

BACKEND = keras.backend.backend()
# Widths that are not multiples of the test's chunk of 4 (padding), few
# shapes so that JAX compiles few of them.
WIDTHS = (9, 23)
SMALL = settings(max_examples=10, deadline=None)
# Each example of a compiled test compiles anew.
COMPILED = settings(max_examples=5, deadline=None)


@contextlib.contextmanager
def chunks_everywhere(chunk=4):
    """Every row with at least one chunk per k takes the chunk method."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tuning, "CHUNK", chunk)
        patch.setitem(tuning.CUT_OVER, BACKEND, (0, 1))
        yield


def compiled(function):
    """`function` as each backend compiles it: XLA on TF and JAX."""
    if BACKEND == "jax":
        import jax

        return jax.jit(function)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True)
    return function


def reference_order(x):
    """Indices of each row, largest first, ties in index order."""
    ranked = np.where(np.isnan(x), np.inf, x)
    return np.argsort(-ranked, axis=-1, kind="stable")


def reference_mask(x, k):
    mask = np.zeros(x.shape, bool)
    np.put_along_axis(mask, reference_order(x)[..., :k], True, axis=-1)
    return mask


@st.composite
def rows_and_k(draw, *, allow_nan=False, widths=WIDTHS, max_k=None):
    """A batch with planted ties (and NaN, ±inf if asked), and a k."""
    x = draw(
        strategies.activations(
            batch_sizes=(5,),
            widths=widths,
            allow_nan=allow_nan,
            allow_infinity=allow_nan,
        )
    )
    # Signed zeros tie in the selection but not in XLA's top_k.
    x = x + np.float32(0.0)
    chunks = -(-x.shape[-1] // 4)
    k = draw(st.integers(1, min(chunks, max_k or chunks)))
    return x, k


@SMALL
@given(rows_and_k())
def test_values_are_the_k_largest_largest_first(case):
    with chunks_everywhere():
        x, k = case
        values, _ = _fast_top_k.top_k(ops.convert_to_tensor(x), k)
        expected = np.take_along_axis(x, reference_order(x)[..., :k], axis=-1)
        np.testing.assert_array_equal(ops.convert_to_numpy(values), expected)


@pytest.mark.skipif(
    BACKEND == "torch", reason="torch.topk orders ties as it likes"
)
@COMPILED
@given(rows_and_k())
def test_indices_are_lowest_first_among_ties_across_chunks(case):
    with chunks_everywhere():
        x, k = case
        _, indices = compiled(lambda x: _fast_top_k.top_k(x, k))(x)
        np.testing.assert_array_equal(
            ops.convert_to_numpy(indices), reference_order(x)[..., :k]
        )


def test_equal_chunk_maxima_pick_the_lower_chunks():
    with chunks_everywhere():
        # Every chunk's maximum is 1.0; the k ones kept are the first k.
        x = np.tile(np.array([0.0, 1.0, 0.0, 1.0], "float32"), 5)[None]
        mask = _selection.top_k_mask(ops.convert_to_tensor(x), 3, 3)
        np.testing.assert_array_equal(
            ops.convert_to_numpy(mask)[0].nonzero()[0], [1, 3, 5]
        )


@SMALL
@given(rows_and_k(allow_nan=True))
def test_selection_keeps_the_reference_entries(case):
    with chunks_everywhere():
        x, k = case
        kept = _selection.keep_top_k(ops.convert_to_tensor(x), k, k)
        expected = np.where(reference_mask(x, k), x, 0)
        np.testing.assert_array_equal(ops.convert_to_numpy(kept), expected)


@COMPILED
@given(rows_and_k(allow_nan=True), st.integers(0, 3))
def test_traced_k_below_k_max_keeps_the_reference_entries(case, shortfall):
    with chunks_everywhere():
        # An annealed k_t: a traced scalar under the compiled function.
        x, k_max = case
        k = max(1, k_max - shortfall)
        mask = compiled(lambda x, k: _selection.top_k_mask(x, k, k_max))(
            x, np.int32(k)
        )
        np.testing.assert_array_equal(
            ops.convert_to_numpy(mask), reference_mask(x, k)
        )


@SMALL
@given(rows_and_k(allow_nan=True, max_k=3))
def test_returned_indices_are_the_reference_order(case):
    with chunks_everywhere():
        x, k = case
        values, indices = KSparse(k, return_indices=True)(x, training=True)
        order = reference_order(x)[..., :k]
        np.testing.assert_array_equal(ops.convert_to_numpy(indices), order)
        np.testing.assert_array_equal(
            ops.convert_to_numpy(values), np.take_along_axis(x, order, axis=-1)
        )


def test_padding_is_never_returned_from_rows_of_minus_infinity():
    with chunks_everywhere():
        x = np.full((2, 9), -np.inf, "float32")
        values, indices = _fast_top_k.top_k(ops.convert_to_tensor(x), 2)
        indices = ops.convert_to_numpy(indices)
        assert np.all(ops.convert_to_numpy(values) == -np.inf)
        assert np.all((indices >= 0) & (indices < 9))


def test_keeps_the_leading_axes_and_an_empty_batch():
    with chunks_everywhere():
        x = np.random.default_rng(0).normal(size=(2, 3, 16)).astype("float32")
        values, indices = _fast_top_k.top_k(ops.convert_to_tensor(x), 3)
        assert tuple(values.shape) == tuple(indices.shape) == (2, 3, 3)
        np.testing.assert_array_equal(
            ops.convert_to_numpy(indices), reference_order(x)[..., :3]
        )
        empty = _fast_top_k.top_k(ops.zeros((0, 16)), 3)[0]
        assert tuple(empty.shape) == (0, 3)


def test_wide_rows_take_the_chunk_method_and_narrow_rows_do_not():
    assert tuning.chunk_method_pays(24576, 9)
    assert not tuning.chunk_method_pays(1000, 26)
    assert not tuning.chunk_method_pays(24576, 24576 // 32)
    assert not tuning.chunk_method_pays(None, 33)


def test_ksparse_keeps_the_same_entries_through_chunks_as_without(
    monkeypatch,
):
    x = np.random.default_rng(1).integers(-3, 4, (4, 300)).astype("float32")
    plain = KSparse(7)(x, training=True)
    monkeypatch.setitem(tuning.CUT_OVER, BACKEND, (0, 1))
    chunked = KSparse(7)(x, training=True)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(chunked), ops.convert_to_numpy(plain)
    )


@SMALL
@given(rows_and_k(allow_nan=True, max_k=2))
def test_batch_top_k_keeps_the_reference_entries_of_the_batch(case):
    x, k = case
    with chunks_everywhere():
        kept = BatchTopK(k)(x, training=True)
    flat = x.reshape(1, -1)
    expected = np.where(reference_mask(flat, k * len(x)), flat, 0)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(kept), expected.reshape(x.shape)
    )


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.large_base_example],
)
@given(
    strategies.activations(
        batch_sizes=(5,), widths=(128, 130), allow_nan=True, allow_infinity=True
    ),
    st.integers(0, 1),
)
def test_k_max_at_pytorchs_partial_sort_edge_keeps_the_reference_entries(
    x, shortfall
):
    # 64 * k_max <= width < 64 * (k_max + 1): on PyTorch the selection asks
    # `topk` for k_max and counts, instead of asking for k_max + 1.
    x = x + np.float32(0.0)
    k_max = 2
    k = k_max - shortfall
    mask = compiled(lambda x, k: _selection.top_k_mask(x, k, k_max))(
        x, np.int32(k)
    )
    np.testing.assert_array_equal(
        ops.convert_to_numpy(mask), reference_mask(x, k)
    )
    assert tuning.at_torch_partial_sort_edge(k_max, x.shape[-1]) == (
        BACKEND == "torch"
    )
