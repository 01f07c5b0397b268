"""Dictionary atoms chosen among normalised samples of the data."""

import keras
import numpy as np

from sparsekeras._validation import check_int


def rows_of(data, batch_size=None, steps=None):
    """The rows `adapt` reads: a float64 numpy matrix, or a clear error.

    With `steps`, only the first `steps` batches of `batch_size` rows (32
    when not given, as in Keras's `adapt`) are read.
    """
    if isinstance(data, np.ndarray):
        rows = data
    elif keras.ops.is_tensor(data):
        rows = keras.ops.convert_to_numpy(data)
    else:
        raise TypeError(
            "Invalid type for `data`, expected a NumPy array or a backend "
            f"tensor of shape (samples, input_dim). Received: data of type "
            f"{type(data).__name__}"
        )
    if rows.ndim != 2:
        raise ValueError(
            "Invalid shape for `data`, expected a rank 2 array (samples, "
            f"input_dim). Received: data.shape={rows.shape}"
        )
    if np.iscomplexobj(rows):
        raise TypeError(
            "Invalid dtype for `data`, expected real numbers: atoms are "
            "real, and dropping the imaginary part would lose half of the "
            f"data. Received: data.dtype={rows.dtype}"
        )
    if not (np.issubdtype(rows.dtype, np.number) or rows.dtype == bool):
        raise TypeError(
            "Invalid dtype for `data`, expected numbers. "
            f"Received: data.dtype={rows.dtype}"
        )
    batch_size = check_int("batch_size", batch_size, minimum=1, allow_none=True)
    steps = check_int("steps", steps, minimum=1, allow_none=True)
    if steps is not None:
        rows = rows[: steps * (batch_size or 32)]
    rows = rows.astype("float64")
    if not np.all(np.isfinite(rows)):
        raise ValueError(
            "Invalid value for `data`, expected finite numbers. Received: "
            "data with NaN or infinite entries"
        )
    return rows


def sampled_atoms(rows, units, seed):
    """`units` distinct directions among the nonzero rows, chosen with `seed`.

    Each row is divided by its largest magnitude before its norm is taken,
    so that the norm of a float64 row beyond 1e154 does not overflow. Rows
    that give the same atom (duplicates, or positive multiples of another
    row) count once: the first of them stands for all. Returns a float32
    `(input_dim, units)` matrix of unit-norm columns.
    """
    seed = check_int("seed", seed, minimum=0)
    scale = np.max(np.abs(rows), axis=1, keepdims=True)
    scaled = rows / np.where(scale > 0, scale, 1.0)
    norms = np.linalg.norm(scaled, axis=1, keepdims=True)
    nonzero = np.flatnonzero(norms[:, 0] > 0)
    atoms = (scaled[nonzero] / norms[nonzero]).astype("float32")
    _, first = np.unique(atoms, axis=0, return_index=True)
    distinct = nonzero[np.sort(first)]
    if len(distinct) < units:
        raise ValueError(
            "Invalid value for `data`, expected at least `units` "
            f"({units}) samples of nonzero norm and distinct directions to "
            f"take atoms from. Received: data with {len(distinct)} such "
            f"samples among {len(rows)} ({len(nonzero)} of nonzero norm; "
            "duplicates and positive multiples of a row count once)"
        )
    chosen = np.random.default_rng(seed).choice(distinct, units, replace=False)
    unit = scaled[chosen] / norms[chosen]
    return unit.T.astype("float32")
