"""Hypothesis strategies for the inputs that break sparse layers.

`activations` draws 2-D batches rich in the cases a top-k or threshold
layer gets wrong: ties, repeated and constant rows, rows of negatives,
magnitudes near the ends of the dtype's range, batches of 0 and 1 rows.
The other strategies draw sizes with `1 <= k <= size`, unit-norm
dictionaries, and planted sparse signals `y = A x`. Importing this module
needs hypothesis (`pip install "sparsekeras[testing]"`).
"""

import ml_dtypes
import numpy as np

from sparsekeras.testing._requirements import import_hypothesis

import_hypothesis()

from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
ROW_KINDS = (
    "moderate",
    "ties",
    "constant",
    "negative",
    "repeat",
    "large",
    "small",
)


def _as_strategy(value):
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, (list, tuple)):
        return st.sampled_from(value)
    return st.just(value)


def _numpy_dtype(dtype):
    return ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)


def _range(dtype):
    """(smallest normal, largest finite) of `dtype`, as Python floats."""
    info = ml_dtypes.finfo(_numpy_dtype(dtype))
    return float(info.smallest_normal), float(info.max)


def _row(draw, kind, width, dtype, previous):
    tiny, huge = _range(dtype)
    # bfloat16 is drawn in float32 and rounded, so only float16 needs a
    # narrower float for its values to be exact.
    bits = 16 if dtype == "float16" else 32 if dtype != "float64" else 64
    if kind == "repeat" and previous is not None:
        return previous
    if kind == "constant":
        value = st.floats(-100, 100, width=bits, allow_subnormal=False)
        return [draw(value)] * width
    if kind == "ties":
        elements = st.integers(-2, 2).map(float)
    elif kind == "negative":
        elements = st.floats(-1e3, -tiny, width=bits)
    elif kind == "large":
        # An eighth of the largest finite value: far from overflowing
        # when a cast to bfloat16 rounds it up.
        elements = st.floats(huge / 64, huge / 8, width=bits)
        elements = st.tuples(elements, st.booleans()).map(
            lambda pair: -pair[0] if pair[1] else pair[0]
        )
    elif kind == "small":
        elements = st.floats(tiny, 64 * tiny, width=bits)
        elements = st.tuples(elements, st.booleans()).map(
            lambda pair: -pair[0] if pair[1] else pair[0]
        )
    else:
        elements = st.floats(-1e3, 1e3, width=bits, allow_subnormal=False)
    return draw(st.lists(elements, min_size=width, max_size=width))


@st.composite
def activations(
    draw,
    *,
    batch_sizes=(0, 1, 2, 3, 8),
    widths=(1, 2, 5, 16),
    dtypes="float32",
    allow_nan=False,
    allow_infinity=False,
    min_value=None,
):
    """2-D float batches `(batch_size, width)` as numpy arrays.

    Each row is of one kind, drawn anew: moderate values, small integers
    (ties), one value repeated (a constant row), negatives only, the
    previous row again, values near the largest finite value of the dtype,
    or values near its smallest normal one. NaN and `±inf` appear only
    when asked for; subnormal numbers never do, since TensorFlow and JAX
    flush them to zero on CPUs and PyTorch does not (see
    [Shared rules](semantics.md)), so any ordering of them would depend on
    the backend.

    Args:
        batch_sizes: an int, a sequence of ints to sample from, or a
            strategy. Defaults to `(0, 1, 2, 3, 8)`. Few distinct sizes
            keep JAX from compiling each operation for many shapes.
        widths: the same for the last axis. Defaults to `(1, 2, 5, 16)`.
        dtypes: a float dtype name, a sequence of them, or a strategy;
            defaults to `"float32"`. `"bfloat16"` arrays are numpy arrays
            of `ml_dtypes.bfloat16`, which every Keras backend converts.
        allow_nan: bool, defaults to `False`. Whether entries may be NaN.
        allow_infinity: bool, defaults to `False`. Whether entries may be
            `±inf`.
        min_value: a number, or `None` (the default). When given, every
            entry is replaced by its absolute value plus `min_value`, e.g.
            `min_value=0` for non-negative rows.

    Returns:
        A strategy of numpy arrays of rank 2.

    Example:

    >>> from hypothesis import given, settings
    >>> from sparsekeras.layers import KSparse
    >>> from sparsekeras.testing import assert_keeps_top_k, strategies
    >>> @settings(max_examples=10, deadline=None)
    ... @given(strategies.activations(widths=4))
    ... def test_keeps_the_top_2(x):
    ...     assert_keeps_top_k(x, KSparse(2)(x, training=True), k=2)
    >>> test_keeps_the_top_2()
    """
    batch = draw(_as_strategy(batch_sizes))
    width = draw(_as_strategy(widths))
    dtype = draw(_as_strategy(dtypes))
    if dtype not in FLOAT_DTYPES:
        raise ValueError(
            f"Invalid value for `dtypes`, expected names among "
            f"{FLOAT_DTYPES}. Received: dtypes={dtype!r}"
        )
    rows, previous = [], None
    for _ in range(batch):
        kind = draw(st.sampled_from(ROW_KINDS))
        previous = _row(draw, kind, width, dtype, previous)
        rows.append(previous)
    x = np.array(rows, dtype="float64").reshape(batch, width)
    if min_value is not None:
        x = np.abs(x) + min_value
    specials = [np.nan] * allow_nan + [np.inf, -np.inf] * allow_infinity
    if specials and x.size:
        where = draw(hnp.arrays(bool, x.shape, elements=st.booleans()))
        values = draw(
            hnp.arrays("float64", x.shape, elements=st.sampled_from(specials))
        )
        x = np.where(where, values, x)
    with np.errstate(over="ignore"):
        return x.astype(_numpy_dtype(dtype))


@st.composite
def sizes_and_k(draw, *, max_size=16):
    """Pairs `(size, k)` of ints with `1 <= k <= size <= max_size`."""
    size = draw(st.integers(1, max_size))
    return size, draw(st.integers(1, size))


@st.composite
def unit_norm_dictionaries(draw, input_dim, units):
    """float32 arrays `(input_dim, units)` whose columns have unit norm."""
    matrix = draw(
        hnp.arrays(
            "float64",
            (input_dim, units),
            elements=st.floats(-1, 1).filter(lambda v: abs(v) > 1e-3),
        )
    )
    return (matrix / np.linalg.norm(matrix, axis=0)).astype("float32")


@st.composite
def planted_sparse_signals(
    draw, *, input_dim, units, k, batch_sizes=(1, 4, 16)
):
    """Triples `(signals, dictionary, codes)` with `signals = codes A^T`.

    `dictionary` (`A`, from `unit_norm_dictionaries`) has shape
    `(input_dim, units)`; each row of `codes` has exactly `k` nonzero
    entries, of magnitude in `[1, 2]` and random sign, on a random support.
    All three are float32 numpy arrays.
    """
    dictionary = draw(unit_norm_dictionaries(input_dim, units))
    batch = draw(_as_strategy(batch_sizes))
    codes = np.zeros((batch, units), dtype="float32")
    for row in codes:
        support = draw(
            st.lists(
                st.integers(0, units - 1),
                min_size=k,
                max_size=k,
                unique=True,
            )
        )
        magnitudes = draw(st.lists(st.floats(1, 2), min_size=k, max_size=k))
        signs = draw(st.lists(st.sampled_from([-1, 1]), min_size=k, max_size=k))
        row[support] = np.multiply(magnitudes, signs)
    return codes @ dictionary.T, dictionary, codes
