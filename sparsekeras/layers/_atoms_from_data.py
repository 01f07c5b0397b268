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
    """`units` distinct nonzero rows, chosen with `seed`, normalised.

    Returns a float32 `(input_dim, units)` matrix of unit-norm columns.
    """
    seed = check_int("seed", seed, minimum=0)
    norms = np.linalg.norm(rows, axis=1)
    usable = np.flatnonzero(norms > 0)
    if len(usable) < units:
        raise ValueError(
            "Invalid value for `data`, expected at least `units` "
            f"({units}) samples of nonzero norm to take atoms from. "
            f"Received: data with {len(usable)} such samples among "
            f"{len(rows)}"
        )
    chosen = np.random.default_rng(seed).choice(usable, units, replace=False)
    atoms = rows[chosen] / norms[chosen, None]
    return atoms.T.astype("float32")
