import ml_dtypes
import numpy as np
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from sparsekeras.testing import strategies


@settings(max_examples=50, deadline=None)
@given(strategies.activations())
def test_activations_are_finite_float32_batches_by_default(x):
    assert x.ndim == 2 and x.dtype == np.float32
    assert x.shape[0] in (0, 1, 2, 3, 8) and x.shape[1] in (1, 2, 5, 16)
    assert np.all(np.isfinite(x))


# Found, not shrunk: shrinking would take longer than finding.
FIND = settings(max_examples=500, database=None, phases=[Phase.generate])


def _rows_with(x, predicate, min_width=1):
    return x.shape[-1] >= min_width and any(predicate(row) for row in x)


HARD_CASES = {
    "an empty batch": lambda x: x.shape[0] == 0,
    "a batch of one row": lambda x: x.shape[0] == 1,
    "a tie": lambda x: _rows_with(x, lambda r: len(set(r)) < len(r)),
    "a constant row": lambda x: _rows_with(x, lambda r: np.ptp(r) == 0, 3),
    "a repeated row": lambda x: any(
        np.array_equal(a, b) and np.ptp(a) > 0
        for a, b in zip(x, x[1:], strict=False)
    ),
    "a row of negatives": lambda x: _rows_with(x, lambda r: r.max() < 0, 3),
    "a huge value": lambda x: np.abs(x).max(initial=0) > 1e36,
    "a tiny value": lambda x: np.any((x != 0) & (np.abs(x) < 1e-36)),
}


@pytest.mark.parametrize("case", HARD_CASES)
def test_activations_find_the_hard_cases(case):
    find(
        strategies.activations(),
        HARD_CASES[case],
        settings=FIND,
    )


@pytest.mark.parametrize("special", ["allow_nan", "allow_infinity"])
def test_nan_and_infinities_when_asked(special):
    found = {"allow_nan": np.isnan, "allow_infinity": np.isinf}[special]
    find(
        strategies.activations(**{special: True}),
        lambda x: found(x).any(),
        settings=FIND,
    )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_activations_in_other_float_dtypes_stay_finite(dtype):
    @settings(max_examples=30, deadline=None)
    @given(strategies.activations(dtypes=dtype))
    def draws(x):
        assert x.dtype == np.dtype(
            ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype
        )
        assert np.all(np.isfinite(x.astype("float64")))

    draws()


@settings(max_examples=30, deadline=None)
@given(strategies.activations(min_value=0, widths=st.integers(1, 3)))
def test_min_value_bounds_every_entry(x):
    assert np.all(x >= 0) and x.shape[1] <= 3


@settings(max_examples=30, deadline=None)
@given(strategies.sizes_and_k(max_size=5))
def test_k_is_at_most_the_size(size_and_k):
    size, k = size_and_k
    assert 1 <= k <= size <= 5


@settings(max_examples=20, deadline=None)
@given(strategies.planted_sparse_signals(input_dim=5, units=7, k=2))
def test_planted_signals_are_k_sparse_codes_of_a_unit_norm_dictionary(data):
    signals, dictionary, codes = data
    np.testing.assert_allclose(np.linalg.norm(dictionary, axis=0), 1, 1e-6)
    np.testing.assert_array_equal(np.count_nonzero(codes, axis=-1), 2)
    np.testing.assert_allclose(signals, codes @ dictionary.T, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_activations_draw_no_subnormal_entries(dtype):
    tiny = float(ml_dtypes.finfo(dtype).smallest_normal)

    @settings(max_examples=200, deadline=None)
    @given(strategies.activations(dtypes=dtype, widths=16))
    def draws(x):
        magnitudes = np.abs(x.astype("float64"))
        assert not np.any((magnitudes > 0) & (magnitudes < tiny))

    draws()
