"""Argument checks shared by every sparsekeras component.

Messages follow Keras's own form: what is wrong, what is expected, then what
was received, e.g. "Invalid value for `k`, expected a positive integer.
Received: k=0".
"""

import numbers

import keras
import numpy as np

INT32_MAX = 2**31 - 1
"""The largest integer argument: steps and sizes are int32 on JAX and torch."""

FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)
"""Float arguments are computed with in float32: a value must round to a
finite float32, and a nonzero one to a normal float32 (at least
`FLOAT32_TINY` in magnitude), since XLA flushes subnormals to zero on CPUs.
The bounds are checked on the rounded value, so `rho=1 - 1e-8`, which
rounds to 1, is refused where `rho < 1` is required.
"""


def _received(name, value):
    return f"Received: {name}={value!r}"


def check_int(
    name, value, *, minimum=None, maximum=INT32_MAX, allow_none=False
):
    """Returns `value` if it is an integer (not a bool) in range.

    The range is `minimum <= value <= maximum`, `maximum` defaulting to
    `INT32_MAX`, which every backend's int32 can hold.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"Invalid type for `{name}`, expected an integer. "
            f"{_received(name, value)} of type {type(value).__name__}"
        )
    too_low = minimum is not None and value < minimum
    if too_low or (maximum is not None and value > maximum):
        expected = _describe_int_range(name, minimum, maximum)
        raise ValueError(
            f"Invalid value for `{name}`, expected {expected}. "
            f"{_received(name, value)}"
        )
    return int(value)


def check_float(
    name,
    value,
    *,
    minimum=None,
    maximum=None,
    exclusive=False,
    allow_none=False,
):
    """Returns `value` as a float if float32 represents it, in range.

    The value must round to a finite float32, normal unless it is 0 (see
    `FLOAT32_TINY`), and the bounds are checked on that rounded value. With
    `exclusive`, both bounds are excluded; otherwise both are included.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"Invalid type for `{name}`, expected a number. "
            f"{_received(name, value)} of type {type(value).__name__}"
        )
    value = float(value)
    rounded = _as_float32(value)
    low_ok = minimum is None or (
        rounded > minimum if exclusive else rounded >= minimum
    )
    high_ok = maximum is None or (
        rounded < maximum if exclusive else rounded <= maximum
    )
    representable = abs(rounded) <= FLOAT32_MAX and (
        rounded == 0 or abs(rounded) >= FLOAT32_TINY
    )
    if not (representable and low_ok and high_ok):
        raise ValueError(
            f"Invalid value for `{name}`, expected "
            f"{_describe_range(name, minimum, maximum, exclusive)}, "
            "representable as a normal float32. "
            f"{_received(name, value)}"
        )
    return value


def _as_float32(value):
    """`value` rounded to float32 (inf beyond its range, NaN stays NaN)."""
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def check_bool(name, value):
    """Returns `value` if it is a bool."""
    if not isinstance(value, bool):
        raise TypeError(
            f"Invalid type for `{name}`, expected a bool. "
            f"{_received(name, value)} of type {type(value).__name__}"
        )
    return value


def check_choice(name, value, choices):
    """Returns `value` if it is one of `choices`."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(
            f"Invalid value for `{name}`, expected one of {allowed}. "
            f"{_received(name, value)}"
        )
    return value


def check_float_dtype(layer):
    """Raises a `TypeError` unless `layer` computes in a floating dtype."""
    for dtype in (layer.compute_dtype, layer.variable_dtype):
        if not keras.backend.is_float_dtype(dtype):
            raise TypeError(
                f"Invalid dtype for `{type(layer).__name__}`, expected a "
                "floating-point dtype or dtype policy, such as 'float32' "
                f"or 'mixed_float16'. Received: dtype={dtype!r}"
            )


def _describe_int_range(name, minimum, maximum):
    if minimum == 1 and maximum == INT32_MAX:
        return f"a positive integer <= {INT32_MAX}"
    if minimum is not None and maximum is not None:
        return f"an integer with {minimum} <= {name} <= {maximum}"
    if minimum is not None:
        return f"an integer >= {minimum}"
    return f"an integer <= {maximum}"


def _describe_range(name, minimum, maximum, exclusive):
    low, high = ("<", "<") if exclusive else ("<=", "<=")
    if minimum is not None and maximum is not None:
        return f"a finite number with {minimum} {low} {name} {high} {maximum}"
    if minimum is not None:
        sign = ">" if exclusive else ">="
        return f"a finite number {sign} {minimum}"
    if maximum is not None:
        sign = "<" if exclusive else "<="
        return f"a finite number {sign} {maximum}"
    return "a finite number"


def check_image_shape(name, shape):
    """Returns `shape` as `(height, width)` if it is two positive integers."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ValueError(
            f"Invalid value for `{name}`, expected (height, width). "
            f"{_received(name, shape)}"
        )
    return tuple(check_int(name, size, minimum=1) for size in shape)


def check_filters(name, weights, filter_shape):
    """Returns `weights` of shape `(h * w, units)` as `(units, h, w)` floats.

    The one layout rule for filters: one filter per column, as in a Dense
    kernel `(input_dim, units)` or a `NeuralSparseCoding` dictionary. A
    transposed `(units, h * w)` array is refused, not silently reshaped.
    """
    height, width = check_image_shape("filter_shape", filter_shape)
    weights = np.asarray(keras.ops.convert_to_numpy(weights), dtype=np.float64)
    layout = weights.ndim == 2 and weights.shape[0] == height * width
    if not layout or weights.shape[1] == 0:
        raise ValueError(
            f"Invalid shape for `{name}`, expected (input_dim, units) with "
            f"input_dim = {height} * {width} = {height * width} (one filter "
            "of `filter_shape` per column) and units >= 1. "
            f"Received: {name}.shape={weights.shape}"
        )
    return weights.T.reshape(-1, height, width)
