"""Argument checks shared by every sparsekeras component.

Messages follow Keras's own form: what is wrong, what is expected, then what
was received, e.g. "Invalid value for `k`, expected a positive integer.
Received: k=0".
"""

import numbers

import keras
import numpy as np


def _received(name, value):
    return f"Received: {name}={value!r}"


def check_int(name, value, *, minimum=None, allow_none=False):
    """Returns `value` if it is an integer (not a bool) >= `minimum`."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"Invalid type for `{name}`, expected an integer. "
            f"{_received(name, value)} of type {type(value).__name__}"
        )
    if minimum is not None and value < minimum:
        expected = (
            "a positive integer"
            if minimum == 1
            else (f"an integer >= {minimum}")
        )
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
    """Returns `value` as a float if it is a finite number in range.

    With `exclusive`, both bounds are excluded; otherwise both are included.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"Invalid type for `{name}`, expected a number. "
            f"{_received(name, value)} of type {type(value).__name__}"
        )
    value = float(value)
    low_ok = minimum is None or (
        value > minimum if exclusive else value >= minimum
    )
    high_ok = maximum is None or (
        value < maximum if exclusive else value <= maximum
    )
    if value != value or value in (float("inf"), float("-inf")):
        low_ok = False
    if not (low_ok and high_ok):
        raise ValueError(
            f"Invalid value for `{name}`, expected "
            f"{_describe_range(name, minimum, maximum, exclusive)}. "
            f"{_received(name, value)}"
        )
    return value


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
