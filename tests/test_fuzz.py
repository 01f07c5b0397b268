"""Generated arguments, shapes and dtypes for every component.

Every combination either raises a `ValueError` or `TypeError` from
sparsekeras that names the argument at fault, or gives the documented
output: for finite input a finite and correct one, an empty one for an
empty batch, and NaN where the class docstrings say NaN goes. A backend's
own exception fails the test, as does any mismatch with the reference.
"""

import math
import numbers
import re

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops

from sparsekeras.layers import KSparse, NeuralSparseCoding
from sparsekeras.regularizers import (
    KLSparsityRegularizer,
    WeightDecay,
    kl_sparsity,
)

NAN, INF = float("nan"), float("inf")
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
OTHER_DTYPES = ("int8", "int32", "int64", "uint8", "bool")
LAYER_DTYPES = (
    None,
    "float32",
    "float16",
    "bfloat16",
    "mixed_float16",
    "mixed_bfloat16",
)
# Few sizes per axis, since JAX compiles each op anew for every shape;
# empty axes are among them, at a lower rate.
SIDES = (0, 1, 3, 3)
LAST_SIDES = (0, 1, 2, 5, 5)
# Keeps every penalty and code inside float16's range (65504), so that
# finite input must give finite output in every dtype.
MAGNITUDE = 8

# Arguments of the wrong type, and integers and numbers out of any range.
BAD_INTEGERS = st.integers(-2, 8) | st.sampled_from(
    [2.0, 2.5, True, None, "2", NAN, np.bool_(1)]
)
BAD_NUMBERS = st.floats(-2.0, 0.0) | st.sampled_from(
    [NAN, INF, -INF, None, True, "1", 1j, 1e39, 1e-40]
)


def mostly(valid, invalid):
    """Draws mostly from `valid`, about one time in eight from `invalid`."""
    return st.integers(0, 7).flatmap(lambda i: invalid if i == 0 else valid)


def optional(strategy):
    return st.none() | strategy


def is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def as_float32(value):
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def finite_at_least(value, minimum, exclusive=False):
    """Whether float32 holds `value` (0 or normal) at or above `minimum`."""
    value = as_float32(value)
    normal = value == 0 or abs(value) >= np.finfo(np.float32).tiny
    return (
        math.isfinite(value)
        and normal
        and (value > minimum if exclusive else value >= minimum)
    )


def first_fault(checks):
    """The `(name, error)` of the first failing `(name, type_ok, value_ok)`.

    `value_ok` is a callable, consulted only when the type is right; the
    checks come in the order the component makes them.
    """
    for name, type_ok, value_ok in checks:
        if not type_ok:
            return name, TypeError
        if not value_ok():
            return name, ValueError
    return None


def raises_as_predicted(fault, call):
    """Calls `call`; whether it raised the error `fault` predicts.

    The message must name the argument, as "`k`" or "k=...".
    """
    if fault is None:
        call()
        return False
    name, error = fault
    with pytest.raises(error) as info:
        call()
    assert re.search(rf"`{name}`|\b{name}=", str(info.value)), info.value
    return True


@st.composite
def inputs(draw, ranks=(0, 1, 2, 3)):
    """`(x, dtype)`: a numpy array or, for bfloat16, a backend tensor."""
    rank = draw(st.sampled_from(ranks))
    shape = tuple(draw(st.sampled_from(SIDES)) for _ in range(rank - 1))
    if rank:
        shape += (draw(st.sampled_from(LAST_SIDES)),)
    dtype = draw(st.sampled_from(FLOAT_DTYPES) | st.sampled_from(OTHER_DTYPES))
    if dtype == "bool":
        elements = st.booleans()
    elif dtype == "uint8":
        elements = st.integers(0, MAGNITUDE)
    elif dtype.startswith("int"):
        elements = st.integers(-MAGNITUDE, MAGNITUDE)
    else:
        elements = st.floats(-MAGNITUDE, MAGNITUDE, width=16)
        if draw(st.booleans()):
            elements |= st.sampled_from([NAN, INF, -INF])
    storage = "float32" if dtype == "bfloat16" else dtype
    # No fill: every element drawn, so that rows differ and ties vary.
    x = draw(hnp.arrays(storage, shape, elements=elements, fill=st.nothing()))
    if dtype == "bfloat16":
        return ops.cast(x, "bfloat16"), dtype
    return x, dtype


def seen_by(x, dtype):
    """`x` cast to `dtype` on the backend, as float64 numpy."""
    x = ops.cast(x, dtype)
    if keras.backend.standardize_dtype(x.dtype) != "float64":
        # Exact, and numpy has no bfloat16 of its own.
        x = ops.cast(x, "float32")
    return np.asarray(ops.convert_to_numpy(x), dtype="float64")


def resolution(dtype):
    """The relative rounding step of a float dtype (float32's at least)."""
    return {"float16": 2**-10, "bfloat16": 2**-7}.get(dtype, 2**-23)


def smallest_normal(dtype):
    """Below it a float dtype rounds to multiples of its subnormal step."""
    return {"float16": 2**-14, "float64": 2**-1022}.get(dtype, 2**-126)


def reference_top_k(x, k):
    """Where each row's `k` largest are (NaN as +inf, ties by index)."""
    ranked = np.where(np.isnan(x), np.inf, x)
    order = np.argsort(-ranked, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return keep


# KSparse ----------------------------------------------------------------


def ksparse_fault(k, alpha, k_start, anneal_steps):
    return first_fault(
        [
            ("k", is_int(k), lambda: k >= 1),
            ("alpha", is_number(alpha), lambda: finite_at_least(alpha, 1)),
            ("k_start", k_start is None or is_int(k_start), lambda: True),
            ("k_start", True, lambda: k_start is None or k_start >= k),
            ("anneal_steps", is_int(anneal_steps), lambda: anneal_steps >= 0),
            (
                "anneal_steps",
                True,
                lambda: anneal_steps == 0 or k_start is not None,
            ),
        ]
    )


def ksparse_build_fault(k, k_start, shape):
    if len(shape) < 2:
        return "input_shape", ValueError
    for name, value in (("k", k), ("k_start", k_start)):
        if value is not None and value > shape[-1]:
            return name, ValueError
    return None


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_ksparse_raises_naming_the_argument_or_keeps_the_top_k(data):
    # Ranks 2 and 3 and arguments that fit the input, mostly, so that most
    # examples get past the checks.
    x, _ = data.draw(inputs(ranks=(0, 1, 2, 2, 3, 3)), label="x")
    size = max(x.shape[-1], 1) if len(x.shape) else 1
    k = data.draw(
        mostly(st.integers(1, size) | st.just(np.int64(1)), BAD_INTEGERS),
        label="k",
    )
    alpha = data.draw(
        mostly(st.floats(1.0, 3.0) | st.just(np.float32(1.5)), BAD_NUMBERS),
        label="alpha",
    )
    fits = is_int(k) and 1 <= k <= size
    k_start = data.draw(
        mostly(
            (st.none() | st.integers(k, size)) if fits else st.none(),
            BAD_INTEGERS,
        ),
        label="k_start",
    )
    anneal_steps = data.draw(
        mostly(
            st.just(0) if k_start is None else st.integers(0, 3),
            BAD_INTEGERS,
        ),
        label="anneal_steps",
    )
    layer_dtype = data.draw(st.sampled_from(LAYER_DTYPES), label="dtype")
    arguments = dict(alpha=alpha, k_start=k_start, anneal_steps=anneal_steps)
    if raises_as_predicted(
        ksparse_fault(k, alpha, k_start, anneal_steps),
        lambda: KSparse(k, **arguments),
    ):
        return
    layer = KSparse(k, **arguments, dtype=layer_dtype)
    shape = tuple(x.shape)
    if raises_as_predicted(
        ksparse_build_fault(k, k_start, shape), lambda: layer.build(shape)
    ):
        return
    seen = seen_by(x, layer.compute_dtype)
    first_k = k_start if k_start is not None and anneal_steps else k
    inference_k = min(round(alpha * k), shape[-1])

    for training, kept in ((True, first_k), (False, inference_k)):
        y = layer(x, training=training)

        assert keras.backend.standardize_dtype(y.dtype) == layer.compute_dtype
        y = seen_by(y, "float32")
        expected = np.where(reference_top_k(seen, kept), seen, 0.0)
        np.testing.assert_array_equal(y, expected)
        np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
        if np.all(np.isfinite(seen)):
            assert np.all(np.isfinite(y))


# NeuralSparseCoding -----------------------------------------------------


def neural_sparse_coding_fault(units, arguments):
    threshold, k = arguments["threshold"], arguments["k"]
    rate = arguments["learning_rate"]
    return first_fault(
        [
            ("units", is_int(units), lambda: units >= 1),
            (
                "threshold",
                threshold is None or is_number(threshold),
                lambda: (
                    threshold is None
                    or finite_at_least(threshold, 0, exclusive=True)
                ),
            ),
            ("k", k is None or is_int(k), lambda: k is None or k >= 1),
            ("threshold", True, lambda: (threshold is None) != (k is None)),
            ("k", True, lambda: k is None or k <= units),
            (
                "learning_rate",
                is_number(rate),
                lambda: finite_at_least(rate, 0, exclusive=True),
            ),
            (
                "normalize",
                isinstance(arguments["normalize"], bool),
                lambda: True,
            ),
            (
                "update",
                True,
                lambda: arguments["update"] in ("neural", "olshausen_field"),
            ),
            (
                "output_mode",
                True,
                lambda: arguments["output_mode"] in ("codes", "reconstruction"),
            ),
        ]
    )


def check_codes(codes, correlations, scale, threshold, k, dtype):
    """Rows keep what their decoder keeps, up to rounding.

    `scale` bounds each row's `|y| |A|`, so the float32 round-off in `y A`
    and the cast to `dtype` stay within `tolerance` of it.
    """
    tolerance = 8 * (resolution(dtype) + 2**-23) * (1 + scale)
    tolerance = np.broadcast_to(tolerance, codes.shape)
    kept = codes != 0
    assert np.all((np.abs(codes - correlations) <= tolerance)[kept])
    magnitude = np.abs(correlations)
    if k is None:
        assert np.all((magnitude >= threshold - tolerance)[kept])
        assert np.all((magnitude < threshold + tolerance)[~kept])
        return
    assert np.all(kept.sum(axis=-1) <= k)
    for row, row_kept, row_tolerance in zip(
        magnitude, kept, tolerance[:, 0], strict=True
    ):
        if row_kept.any() and not row_kept.all():
            assert row[row_kept].min() >= row[~row_kept].max() - row_tolerance


def check_step(learned, dictionary, signals, codes, layer):
    """`learned` is `dictionary` after the documented update, to rounding.

    `codes` are the layer's float32 codes before the step; `bound` bounds
    every term of the update, so float32 sums stay within `tolerance`.
    """
    residuals = signals - codes @ dictionary.T
    hebbian = np.sign(codes) if layer.update == "neural" else codes
    batch = max(len(signals), 1)
    stepped = dictionary + layer.learning_rate * residuals.T @ hebbian / batch
    bound = np.abs(dictionary) + layer.learning_rate * (
        (np.abs(signals) + np.abs(codes) @ np.abs(dictionary).T).T
        @ np.abs(hebbian)
        / batch
    )
    tolerance = 1e-5 * bound + 1e-7
    if not layer.normalize:
        assert np.all(np.abs(learned - stepped) <= tolerance)
        return
    norms = np.linalg.norm(stepped, axis=0)
    # A column the step sends to (almost) zero has no direction to keep.
    clear = norms > 1e-3
    normalized = stepped[:, clear] / norms[clear]
    error = np.abs(learned[:, clear] - normalized)
    assert np.all(error <= tolerance[:, clear] / norms[clear] + 1e-6)


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_neural_sparse_coding_raises_naming_the_argument_or_codes_right(data):
    x, _ = data.draw(inputs(ranks=(1, 2, 2, 2, 3)), label="x")
    units = data.draw(mostly(st.integers(1, 6), BAD_INTEGERS), label="units")
    use_k = data.draw(st.booleans(), label="use_k")
    top = units if is_int(units) and units >= 1 else 6
    k = data.draw(
        mostly(st.integers(1, top) if use_k else st.none(), BAD_INTEGERS),
        label="k",
    )
    threshold = data.draw(
        mostly(st.none() if use_k else st.floats(0.1, 3.0), BAD_NUMBERS),
        label="threshold",
    )
    learning_rate = data.draw(
        mostly(st.floats(0.01, 4.0), BAD_NUMBERS), label="learning_rate"
    )
    normalize = data.draw(
        mostly(st.booleans(), st.sampled_from([1, None, "yes"])),
        label="normalize",
    )
    update = data.draw(
        mostly(
            st.sampled_from(["neural", "olshausen_field"]),
            st.sampled_from(["hebb", None, 1]),
        ),
        label="update",
    )
    output_mode = data.draw(
        mostly(
            st.sampled_from(["codes", "reconstruction"]),
            st.sampled_from(["sparse", None]),
        ),
        label="output_mode",
    )
    layer_dtype = data.draw(st.sampled_from(LAYER_DTYPES), label="dtype")
    arguments = dict(
        threshold=threshold,
        k=k,
        learning_rate=learning_rate,
        normalize=normalize,
        update=update,
        output_mode=output_mode,
    )
    if raises_as_predicted(
        neural_sparse_coding_fault(units, arguments),
        lambda: NeuralSparseCoding(units, **arguments),
    ):
        return
    layer = NeuralSparseCoding(units, **arguments, dtype=layer_dtype)
    shape = tuple(x.shape)
    if raises_as_predicted(
        None
        if len(shape) == 2 and shape[-1] > 0
        else ("input_shape", ValueError),
        lambda: layer.build(shape),
    ):
        return
    dtype = layer.compute_dtype
    # Not autocast: the layer casts its inputs to float32 itself.
    signals = seen_by(x, "float32")
    dictionary = seen_by(layer.dictionary, "float32")
    with np.errstate(invalid="ignore"):
        correlations = signals @ dictionary
        scale = np.abs(signals) @ np.abs(dictionary)
    scale = scale.max(axis=-1, initial=0.0, keepdims=True)
    finite = np.all(np.isfinite(signals), axis=-1)
    has_nan = np.any(np.isnan(signals), axis=-1)

    codes = seen_by(layer.encode(x), "float32")
    output = layer(x, training=True)

    assert keras.backend.standardize_dtype(output.dtype) == dtype
    assert codes.shape == (shape[0], units)
    assert np.all(np.isfinite(codes[finite]))
    check_codes(
        codes[finite], correlations[finite], scale[finite], threshold, k, dtype
    )
    nan_codes = codes[has_nan]
    if k is None:
        assert np.all(np.isnan(nan_codes))
    else:
        assert np.all(np.isnan(nan_codes[:, :k]))
        assert np.all(nan_codes[:, k:] == 0)
    expected = codes
    if output_mode == "reconstruction":
        with np.errstate(invalid="ignore"):
            expected = codes @ dictionary.T
    output = seen_by(output, "float32")
    assert output.shape == expected.shape
    np.testing.assert_allclose(
        output[finite],
        expected[finite],
        rtol=8 * resolution(dtype),
        atol=8 * resolution(dtype) * (1 + scale[finite].max(initial=0.0)),
    )

    learned = seen_by(layer.dictionary, "float32")
    if has_nan.any():
        assert np.all(np.isnan(learned))
    elif finite.all():
        assert np.all(np.isfinite(learned))
        if normalize:
            assert np.all(np.linalg.norm(learned, axis=0) <= 1 + 1e-5)
        # The codes `encode` gives in a lower compute dtype are rounded, so
        # they tell the float32 codes the step used only in float32.
        if dtype == "float32":
            check_step(learned, dictionary, signals, codes, layer)


# KLSparsityRegularizer --------------------------------------------------


def kl_bounds(activations, rho, beta):
    """Bounds on the documented penalty of float64 `activations`.

    float32 sums put each mean within `delta` of its exact value; the
    bounds take each unit's KL (convex in its mean, 0 at `rho`) over that
    interval, clipped into float32's `[EPSILON, 1 - EPSILON]`.
    """
    x = np.clip(activations, -kl_sparsity.BOUND, kl_sparsity.BOUND)
    if x.size == 0:
        return 0.0, 0.0
    rows = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
    mean = rows.mean(axis=0)
    delta = 2**-20 * np.abs(rows).mean(axis=0) + 2**-30
    low_end = float(np.float32(kl_sparsity.EPSILON))
    high_end = float(np.float32(1 - kl_sparsity.EPSILON))

    def kl(rho_hat):
        rho_hat = np.clip(rho_hat, low_end, high_end)
        value = rho * np.log(rho / rho_hat) + (1 - rho) * np.log(
            (1 - rho) / (1 - rho_hat)
        )
        return np.maximum(value, 0.0)

    ends = np.stack([kl(mean - delta), kl(mean + delta)])
    lowest = np.where(np.abs(mean - rho) <= delta, 0.0, ends.min(axis=0))
    return beta * lowest.sum(), beta * ends.max(axis=0).sum()


@settings(max_examples=80, deadline=None)
@given(
    rho=mostly(st.floats(0.001, 0.999), BAD_NUMBERS | st.floats(1.0, 2.0)),
    beta=mostly(st.floats(0.0, 10.0), BAD_NUMBERS),
    data=inputs(),
)
def test_kl_sparsity_raises_naming_the_argument_or_gives_the_penalty(
    rho, beta, data
):
    if raises_as_predicted(
        first_fault(
            [
                (
                    "rho",
                    is_number(rho),
                    lambda: (
                        finite_at_least(rho, 0, exclusive=True)
                        and as_float32(rho) < 1
                    ),
                ),
                ("beta", is_number(beta), lambda: finite_at_least(beta, 0)),
            ]
        ),
        lambda: KLSparsityRegularizer(rho=rho, beta=beta),
    ):
        return
    regularizer = KLSparsityRegularizer(rho=rho, beta=beta)
    x, _ = data
    activations = seen_by(x, "float32")

    penalty = regularizer.penalty(x)
    added = regularizer(x)

    assert keras.backend.standardize_dtype(penalty.dtype) == "float32"
    penalty = float(ops.convert_to_numpy(penalty))
    batch = x.shape[0] if len(x.shape) else 1
    if not kl_sparsity.KERAS_DIVIDES_ACTIVITY_LOSSES:
        batch = 1
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(added)), penalty * batch, rtol=1e-6
    )
    if np.isnan(activations).any():
        assert math.isnan(penalty)
        return
    assert math.isfinite(penalty)
    low, high = kl_bounds(activations, rho, beta)
    assert low * (1 - 1e-5) - 1e-6 <= penalty <= high * (1 + 1e-5) + 1e-6


# WeightDecay ------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(strength=mostly(st.floats(0.0, 10.0), BAD_NUMBERS), data=inputs())
def test_weight_decay_raises_naming_the_argument_or_gives_the_penalty(
    strength, data
):
    if raises_as_predicted(
        first_fault(
            [
                (
                    "strength",
                    is_number(strength),
                    lambda: finite_at_least(strength, 0),
                )
            ]
        ),
        lambda: WeightDecay(strength),
    ):
        return
    x, _ = data
    # JAX without x64 holds float64 arrays as float32.
    held = keras.backend.standardize_dtype(ops.convert_to_tensor(x).dtype)
    output_dtype = held if keras.backend.is_float_dtype(held) else "float32"
    weights = seen_by(x, output_dtype)

    penalty = WeightDecay(strength)(x)

    assert keras.backend.standardize_dtype(penalty.dtype) == output_dtype
    penalty = float(seen_by(penalty, output_dtype))
    # `strength / 2` as the weights' dtype holds it, which may round it to
    # zero, and zero times an infinite weight is NaN.
    half = float(seen_by(strength / 2, output_dtype))
    with np.errstate(invalid="ignore"):
        expected = half * np.sum(np.square(weights))
    if not np.isfinite(expected):
        np.testing.assert_equal(penalty, expected)
        return
    assert math.isfinite(penalty)
    terms = weights.size + 2
    # Products below the smallest normal may be flushed to zero.
    underflow = terms * smallest_normal(output_dtype) * max(half, 1.0)
    assert penalty == pytest.approx(
        expected,
        rel=terms * resolution(output_dtype),
        abs=underflow * (1 + np.sum(np.square(weights))),
    )
