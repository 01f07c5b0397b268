import numpy as np
import pytest

from sparsekeras.layers import KSparse
from sparsekeras.testing import (
    assert_gradient_only_through_kept,
    assert_keeps_top_k,
    assert_unit_norm_columns,
    gradient_of_sum,
)

X = np.array([[3.0, 1.0, 2.0, 2.0], [-1.0, -4.0, -2.0, -3.0]])


@pytest.mark.parametrize(
    "outputs",
    [
        [[3, 0, 2, 0], [-1, 0, -2, 0]],
        [[3, 0, 0, 2], [-1, 0, -2, 0]],  # the other of two tied values
    ],
)
def test_accepts_k_largest_with_ties_either_way(outputs):
    assert_keeps_top_k(X, np.array(outputs, dtype="float32"), k=2)


@pytest.mark.parametrize(
    "outputs, message",
    [
        (
            [[3, 0, 2, 0], [-1, 0, -2, -3]],
            r"^exactly k per row: row 1 keeps 3 entries, \[0, 2, 3\]",
        ),
        (
            [[3, 0, 2, 0], [-1, -4, 0, 0]],
            r"^keeps the k largest: row 1 keeps entries \[1\] .* drops "
            r"entries \[2, 3\]",
        ),
        (
            [[3, 0, 2.5, 0], [-1, 0, -2, 0]],
            r"^kept values equal the inputs: row 0 has entries \[2\] equal "
            r"to \[2.5\], neither their input \[2.0\] nor 0",
        ),
    ],
)
def test_names_the_invariant_the_row_and_the_entries(outputs, message):
    with pytest.raises(AssertionError, match=message) as info:
        assert_keeps_top_k(X, np.array(outputs), k=2)
    assert "input row: [" in str(info.value)


def test_zero_inputs_count_as_kept_or_dropped():
    x = np.array([[0.0, 0.0, 0.0, -1.0]])
    assert_keeps_top_k(x, np.zeros_like(x), k=2)
    assert_keeps_top_k(x, np.zeros_like(x), k=3)
    with pytest.raises(AssertionError, match="^keeps the k largest"):
        assert_keeps_top_k(x, [[0.0, 0.0, 0.0, -1.0]], k=2)


def test_nan_ranks_above_every_number_and_stays_nan():
    x = np.array([[1.0, np.nan, 3.0, np.inf]])
    assert_keeps_top_k(x, [[0, np.nan, 0, np.inf]], k=2)
    with pytest.raises(AssertionError, match="^keeps the k largest"):
        assert_keeps_top_k(x, [[0, 0, 3, np.inf]], k=2)


def test_rows_are_taken_along_the_last_axis_of_any_rank():
    x = np.arange(12.0).reshape(2, 2, 3)
    assert_keeps_top_k(x, np.where(x % 3 == 2, x, 0), k=1)
    with pytest.raises(AssertionError, match="row 3"):
        assert_keeps_top_k(x, np.where(x % 3 == 2, x, 0) * (x < 10), k=1)


def test_rejects_an_output_of_another_shape():
    with pytest.raises(AssertionError, match=r"shape \(2, 3\)"):
        assert_keeps_top_k(X, np.zeros((2, 3)), k=2)


def test_unit_norm_columns_names_the_columns_off():
    assert_unit_norm_columns([[0.6, 1.0], [0.8, 0.0]])
    with pytest.raises(AssertionError, match=r"^unit-norm columns: columns "):
        assert_unit_norm_columns([[0.6, 1.0, np.nan], [0.8, 0.1, 0.0]])


def test_gradient_only_through_kept_names_leaks_and_blocks():
    outputs = np.array([[0.0, 2.0, 3.0]])
    assert_gradient_only_through_kept([[0.0, 1.0, 0.5]], outputs)
    with pytest.raises(AssertionError, match=r"dropped entries \[0\]"):
        assert_gradient_only_through_kept([[0.1, 1.0, 1.0]], outputs)
    with pytest.raises(AssertionError, match=r"zero at kept entries \[2\]"):
        assert_gradient_only_through_kept([[0.0, 1.0, 0.0]], outputs)


def test_gradient_of_sum_of_ksparse_is_its_mask():
    x = np.array([[1.0, 3.0, 2.0], [-5.0, -4.0, -6.0]])
    np.testing.assert_array_equal(
        gradient_of_sum(KSparse(2), x), [[0, 1, 1], [1, 1, 0]]
    )


def test_subnormal_inputs_rank_as_zero_as_xla_flushes_them():
    tiny = float(np.finfo("float32").tiny) / 16
    x = np.array([[1.0, 2.0, tiny, -1.0, 0.0]], dtype="float32")
    # Keeping the 0 or the subnormal (flushed or not) is a tie either way.
    assert_keeps_top_k(x, [[1.0, 2.0, 0.0, 0.0, 0.0]], 3)
    assert_keeps_top_k(x, [[1.0, 2.0, tiny, 0.0, 0.0]], 3)
    with pytest.raises(AssertionError, match="keeps the k largest"):
        assert_keeps_top_k(x, [[1.0, 0.0, 0.0, -1.0, 0.0]], 3)
