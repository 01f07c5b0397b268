"""Assertions on sparse outputs whose messages say which row went wrong.

Each raises an `AssertionError` whose message starts with the invariant it
checks, then names the row, the entries and what was expected. They take
numpy arrays or backend tensors, and need numpy only.
"""

import keras
import numpy as np

KEEPS_INPUT_VALUES = "kept values equal the inputs"
EXACTLY_K = "exactly k per row"
K_LARGEST = "keeps the k largest"
GRADIENT_THROUGH_KEPT = "gradient through the kept entries only"
UNIT_NORM = "unit-norm columns"


def _numpy(x):
    x = keras.ops.convert_to_numpy(x)
    if x.dtype.kind == "V" or str(x.dtype) == "bfloat16":
        return x.astype("float32")
    return np.asarray(x)


def _fail(invariant, row, x_row, detail, label="input"):
    raise AssertionError(
        f"{invariant}: row {row} {detail}\n  {label} row: {x_row.tolist()}"
    )


def flush_subnormals(x):
    """`x` with its subnormal entries set to 0, as XLA computes on CPUs."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        return x
    return np.where(np.abs(x) < np.finfo(x.dtype).tiny, 0, x).astype(x.dtype)


def _same(a, b):
    return (a == b) | (np.isnan(a) & np.isnan(b))


def assert_keeps_top_k(inputs, outputs, k):
    """Asserts each row of `outputs` keeps `k` largest entries of `inputs`.

    Along the last axis, each output row must equal its input row on
    exactly `k` positions that hold `k` largest values (which of tied
    values is kept is free) and be zero elsewhere. NaN ranks above every
    number and is kept as NaN, the rule of every sparsekeras layer (see
    the [shared rules][shared-rules]). An input entry that is 0 may count
    as kept or dropped, since its output is 0 either way; subnormal
    entries rank as 0, since XLA flushes them to zero on CPUs.

    Args:
        inputs: array of shape `(..., size)`, the layer's input.
        outputs: array of the same shape, the layer's output.
        k: int, `1 <= k <= size`.

    Raises:
        AssertionError: naming the invariant broken ("kept values equal the
            inputs", "exactly k per row" or "keeps the k largest"), the
            row, and its entries.

    Example:

    >>> import numpy as np
    >>> from sparsekeras.testing import assert_keeps_top_k
    >>> x = np.array([[3.0, 1.0, 2.0, 2.0]])
    >>> assert_keeps_top_k(x, [[3.0, 0.0, 0.0, 2.0]], k=2)
    >>> assert_keeps_top_k(x, [[3.0, 1.0, 0.0, 0.0]], k=2)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    AssertionError: keeps the k largest: row 0 keeps entries [1] ...
    """
    x, y = _numpy(inputs), _numpy(outputs)
    if x.shape != y.shape:
        raise AssertionError(
            f"{KEEPS_INPUT_VALUES}: the output has shape {y.shape}, the "
            f"input {x.shape}"
        )
    size = x.shape[-1] if x.ndim else 0
    x, y = x.reshape(-1, size), y.reshape(-1, size)
    ranks = flush_subnormals(x)
    for row, (x_row, y_row) in enumerate(zip(x, y, strict=True)):
        _check_row(
            row,
            x_row.astype("float64"),
            y_row.astype("float64"),
            ranks[row].astype("float64"),
            k,
        )


def _check_row(row, x, y, ranks, k):
    changed = ~(_same(y, x) | (y == 0))
    if changed.any():
        where = np.flatnonzero(changed)
        _fail(
            KEEPS_INPUT_VALUES,
            row,
            x,
            f"has entries {where.tolist()} equal to {y[where].tolist()}, "
            f"neither their input {x[where].tolist()} nor 0",
        )
    kept = y != 0  # NaN included
    zeros = (ranks == 0) & ~kept
    if kept.sum() > k or kept.sum() + zeros.sum() < k:
        _fail(
            EXACTLY_K,
            row,
            x,
            f"keeps {int(kept.sum())} entries, {np.flatnonzero(kept).tolist()}"
            f", expected k={k}",
        )
    ranked = np.where(np.isnan(ranks), np.inf, ranks)
    # The zero inputs that make up the count are kept: which ones is free.
    treated_as_kept = kept.copy()
    treated_as_kept[np.flatnonzero(zeros)[: k - kept.sum()]] = True
    dropped = ~treated_as_kept
    if treated_as_kept.any() and dropped.any():
        smallest_kept = ranked[treated_as_kept].min()
        too_small = treated_as_kept & (ranked < ranked[dropped].max())
        too_large = dropped & (ranked > smallest_kept)
        if too_small.any():
            _fail(
                K_LARGEST,
                row,
                x,
                f"keeps entries {np.flatnonzero(too_small).tolist()} (values "
                f"{x[too_small].tolist()}) but drops entries "
                f"{np.flatnonzero(too_large).tolist()} (values "
                f"{x[too_large].tolist()}), which are larger",
            )


def assert_unit_norm_columns(matrix, *, atol=1e-5):
    """Asserts every column of a 2-D `matrix` has Euclidean norm 1.

    Args:
        matrix: array of shape `(rows, columns)`, e.g. a dictionary whose
            columns are its atoms.
        atol: float, defaults to `1e-5`. The tolerance on each norm.

    Raises:
        AssertionError: naming the "unit-norm columns" invariant and the
            columns whose norm is off (NaN included).
    """
    norms = np.linalg.norm(_numpy(matrix).astype("float64"), axis=0)
    off = ~(np.abs(norms - 1) <= atol)
    if off.any():
        raise AssertionError(
            f"{UNIT_NORM}: columns {np.flatnonzero(off).tolist()} have norms "
            f"{norms[off].tolist()}, expected 1 within {atol}"
        )


def assert_gradient_only_through_kept(gradients, outputs):
    """Asserts a gradient is nonzero on the kept entries and zero elsewhere.

    `gradients` is the gradient of `sum(outputs)` with respect to the
    inputs (`sparsekeras.testing.gradient_of_sum` computes it on any
    backend); the kept entries are the nonzero `outputs`, so draw inputs
    without zeros. A dropped entry that receives a gradient learns from an
    example it lost; a kept one that receives none cannot learn at all.

    Args:
        gradients: array of shape `(..., size)`.
        outputs: array of the same shape, the layer's output.

    Raises:
        AssertionError: naming the "gradient through the kept entries
            only" invariant, the row and its entries.
    """
    g, y = _numpy(gradients), _numpy(outputs)
    size = y.shape[-1]
    g, y = g.reshape(-1, size), y.reshape(-1, size)
    for row, (g_row, y_row) in enumerate(zip(g, y, strict=True)):
        kept = y_row != 0
        leaks = ~kept & (g_row != 0)
        blocked = kept & (g_row == 0)
        if leaks.any() or blocked.any():
            _fail(
                GRADIENT_THROUGH_KEPT,
                row,
                y_row,
                f"has gradient {g_row.tolist()}: nonzero at dropped entries "
                f"{np.flatnonzero(leaks).tolist()}, zero at kept entries "
                f"{np.flatnonzero(blocked).tolist()}",
                label="output",
            )
