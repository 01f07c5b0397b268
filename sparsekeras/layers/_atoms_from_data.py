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
    """`units` nonzero rows of distinct directions, chosen with `seed`.

    Each row is divided by its largest magnitude before its norm is taken,
    so that the norm of a float64 row beyond 1e154 does not overflow. No
    two atoms are equal: when the rows drawn hold two of the same
    direction (duplicates, or a positive multiple of another), the draw is
    made again among the distinct directions, where duplicates count once.
    Returns a float32 `(input_dim, units)` matrix of unit-norm columns.
    """
    seed = check_int("seed", seed, minimum=0)
    nonzero = np.flatnonzero(np.any(rows != 0, axis=1))
    _check_enough(len(nonzero), units, len(rows), "of nonzero norm")
    chosen = np.random.default_rng(seed).choice(nonzero, units, replace=False)
    atoms = _unit_rows(rows[chosen])
    if len(_first_of_each(atoms)) < units:
        every = _unit_rows(rows[nonzero])
        distinct = _first_of_each(every)
        _check_enough(
            len(distinct),
            units,
            len(rows),
            "of nonzero norm and distinct directions (duplicates and "
            "positive multiples of a sample count once)",
        )
        rng = np.random.default_rng(seed)
        atoms = every[rng.choice(distinct, units, replace=False)]
    return atoms.T


def _unit_rows(rows):
    """Nonzero `rows` divided by their norms, as float32."""
    scaled = rows / np.max(np.abs(rows), axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("ij,ij->i", scaled, scaled))[:, None]
    # +0.0 turns -0.0 into 0.0, whose bytes `_first_of_each` compares.
    return (scaled / norms).astype("float32") + np.float32(0.0)


def _first_of_each(atoms):
    """Indices of the first of each distinct row of `atoms`, in order.

    A dict of the rows' bytes: far faster than `np.unique(axis=0)` on
    many wide rows.
    """
    first = {}
    for i, atom in enumerate(atoms):
        first.setdefault(atom.tobytes(), i)
    return np.array(sorted(first.values()), dtype=int)


def _check_enough(count, units, samples, which):
    if count < units:
        raise ValueError(
            "Invalid value for `data`, expected at least `units` "
            f"({units}) samples {which} to take atoms from. Received: "
            f"data with {count} such samples among {samples}"
        )
