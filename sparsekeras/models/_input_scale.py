"""`SparseAutoencoder`'s input scale: `normalize_inputs=True`.

The model trains on `s * x`, with `s` measured by `adapt` so that the
mean L2 norm of `s * x` is `sqrt(input_dim)`, as SAELens's
`normalize_activations="expected_average_only_in"` measures it: on the
raw inputs, before the pre-encoder bias (which lives in the scaled
space). `s` is a non-trainable weight, saved with the model; 0 means "not
measured yet", and the model then runs unscaled.
"""

import keras
import numpy as np
from keras import ops


def add_input_scale(model):
    """The float32 scalar weight `input_scale`, 0 (not measured) at first."""
    return model.add_weight(
        name="input_scale",
        shape=(),
        initializer="zeros",
        dtype="float32",
        trainable=False,
        autocast=False,
    )


def measure_input_scale(rows):
    """`sqrt(input_dim) / mean ||x||` of float64 `rows`, or a ValueError."""
    mean_norm = float(np.linalg.norm(rows, axis=1).mean())
    if not mean_norm > 0:
        raise ValueError(
            "Invalid value for `x`, expected rows that are not all zero: "
            "`normalize_inputs=True` scales them to a mean norm of "
            f"sqrt(input_dim). Received: x with mean norm {mean_norm}"
        )
    return np.sqrt(rows.shape[1]) / mean_norm


def scaled(x, variable, inverse=False):
    """`x * s` (`x / s` if `inverse`), computed in float32 or wider.

    `s` is 1 while it is not measured (0). The product is cast back to
    `x`'s dtype, so a bf16 `x` is scaled by the float32 `s` itself, not by
    `s` rounded to bf16 (which `fold_input_scale` would not match).
    """
    dtype = keras.backend.result_type(x.dtype, "float32")
    scale = ops.cast(ops.convert_to_tensor(variable), dtype)
    scale = ops.where(scale > 0, scale, ops.ones((), dtype))
    wide = ops.cast(x, dtype)
    return ops.cast(wide / scale if inverse else wide * scale, x.dtype)


def is_measured(variable):
    return float(ops.convert_to_numpy(variable)) > 0
