"""`check_*`: batteries of invariants for sparse layers and regularizers.

Like scikit-learn's `check_estimator`, each takes a zero-argument factory
of the component under test and raises an `AssertionError` whose message
starts with the broken invariant and shows the (minimised) example. The
properties are drawn by hypothesis, derandomized so that a run is
reproducible, and need it installed (`pip install "sparsekeras[testing]"`).
"""

import contextlib
import os
import tempfile
import warnings

import keras
import numpy as np
from keras import ops

from sparsekeras._validation import check_bool, check_float, check_int
from sparsekeras.testing import assertions
from sparsekeras.testing._requirements import import_hypothesis
from sparsekeras.testing.gradients import gradient_of_sum

PERMUTATION = "permutation equivariance"
IDEMPOTENCE = "idempotence"
CONFIG = "get_config round trip"
SAVING = ".keras save/load"
SYMBOLIC = "symbolic call"
FIT = "fit for one step"
MIXED_PRECISION = "mixed precision"
ZERO_AT_RHO = "zero at rho"
GRADIENT_SIGN = "gradient sign"
INFERENCE_KEEPS_DICTIONARY = "inference leaves the dictionary unchanged"
UNIT_NORM = assertions.UNIT_NORM

BATCH_SIZES = (0, 1, 2, 7)


def _run(invariant, function, inputs=None):
    """Calls `function`, turning any non-assertion error into one.

    The message names the invariant, the error and, when given, the input.
    """
    try:
        return function()
    except AssertionError:
        raise
    except Exception as error:
        raise AssertionError(
            f"{invariant}: raised {type(error).__name__}: {error}" + _on(inputs)
        ) from error


def _on(inputs):
    if inputs is None:
        return ""
    return f"\n  input: {np.asarray(inputs).tolist()}"


@contextlib.contextmanager
def _in_mode(mode, inputs=None):
    """Adds the mode (and the input, if not named) to a failure's message.

    The message keeps starting with the invariant: "keeps the k largest
    (inference): row 0 ...".
    """
    try:
        yield
    except AssertionError as error:
        invariant, _, detail = str(error).partition(": ")
        message = f"{invariant} ({mode}): {detail}"
        if inputs is not None and "input" not in detail:
            message += _on(inputs)
        raise AssertionError(message) from None


def _property(max_examples, *strategies, shrink=True):
    """`hypothesis.given(*strategies)` with the checker's settings."""
    hypothesis = import_hypothesis()
    phases = [hypothesis.Phase.explicit, hypothesis.Phase.generate]
    settings = hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=phases + [hypothesis.Phase.shrink] * shrink,
        report_multiple_bugs=False,
        suppress_health_check=list(hypothesis.HealthCheck),
    )

    def decorate(test):
        return settings(hypothesis.given(*strategies)(test))

    return decorate


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(ops.cast(x, "float32")))


def _train(layer, x):
    return _numpy(layer(x, training=True))


MODES = {"training": True, "inference": False}


class _InMode(keras.Model):
    """Calls a layer in one mode, compiled by `predict_on_batch`.

    One compiled function per input shape replaces the eager calls, which
    JAX compiles operation by operation.
    """

    def __init__(self, layer, training, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.training = training

    def call(self, inputs):
        return self.layer(inputs, training=self.training)


def _compiled_call(layer_factory, input_dim, mode, invariant):
    """A function `x -> outputs` of a fresh layer, compiled, in `mode`.

    An error the layer raises becomes an `AssertionError` naming the
    invariant, the mode and the input.
    """
    model = _InMode(layer_factory(), MODES[mode], name=f"in_{mode}")
    # Built by a symbolic call: TensorFlow's compiled function may make
    # variables on its first trace only.
    with _in_mode(mode):
        _run(invariant, lambda: model(keras.Input((input_dim,))))

    def call(x):
        with _in_mode(mode):
            return _run(invariant, lambda: _numpy(model.predict_on_batch(x)), x)

    return call


@contextlib.contextmanager
def _policy(name):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def check_top_k_layer(
    layer_factory,
    *,
    k,
    input_dim,
    inference_k=None,
    activation=None,
    max_examples=20,
    custom_objects=None,
    check_nonfinite=False,
):
    """Checks that a layer keeps the top `k` of each row, as `KSparse` does.

    On fresh layers from `layer_factory`, called in training mode and in
    inference mode on `(batch, input_dim)` inputs drawn by
    `strategies.activations` (finite unless `check_nonfinite`), it checks:
    exactly `k` (`inference_k` at inference) kept per row, and the largest
    (ties either way; `assert_keeps_top_k`); permutation equivariance of
    the last axis (rows of distinct values); idempotence (non-negative
    rows). Then, on fixed rows: gradients through the kept entries only; a
    `get_config` / `from_config` round trip and a `.keras` save and
    safe-mode load of `Input -> layer` giving the same outputs in both
    modes; a symbolic call; one `fit` step of `Input -> Dense -> layer`;
    calls under `mixed_float16` and `mixed_bfloat16` in both modes. With
    `activation`, the layer is expected to keep the top `k` of
    `activation(x)`, as ReLU then TopK does in a sparse autoencoder. The
    drawn calls are compiled (`predict_on_batch`), as `fit` compiles them.
    See
    [Property-testing your sparse model][property-testing-your-sparse-model].

    Args:
        layer_factory: a callable with no arguments returning a new,
            unbuilt layer that keeps `k` entries per row in training.
        k: int, `1 <= k <= input_dim`, the number of entries the layer
            keeps per row in training.
        input_dim: int >= 1, the size of the last axis of the inputs.
        inference_k: int in `[1, input_dim]`, or `None` (the default) for
            `k`: the number the layer keeps per row at inference, such as
            `min(round(alpha * k), input_dim)` for `KSparse(k, alpha)`.
        activation: `None` (the default), or the activation the layer
            applies before it selects (a name such as `"relu"`, or a
            callable on tensors): the kept values are then those of
            `activation(x)`, and its zeros may fill a row's `k`.
        max_examples: int >= 1, defaults to `20`. The number of examples
            drawn for each property.
        custom_objects: dict, or `None` (the default). Objects the saved
            layer needs besides its own class, which is always passed, so
            user classes need not be registered.
        check_nonfinite: bool, defaults to `False`. Whether inputs may hold
            NaN and `±inf`, checked against sparsekeras's rule: NaN ranks
            above every number and is kept as NaN.

    Raises:
        AssertionError: whose message starts with the broken invariant,
            then the mode (training or inference) where it broke, and
            names the input.
        ValueError, TypeError: for invalid arguments.

    Example:

    >>> import keras
    >>> from sparsekeras.layers import KSparse
    >>> from sparsekeras.testing import check_top_k_layer
    >>> check_top_k_layer(lambda: KSparse(2), k=2, input_dim=5,
    ...                   max_examples=3)
    >>> check_top_k_layer(
    ...     lambda: keras.Sequential([keras.layers.ReLU(), KSparse(2)]),
    ...     k=2, input_dim=5, activation="relu", max_examples=3)
    """
    _check_factory("layer_factory", layer_factory)
    input_dim = check_int("input_dim", input_dim, minimum=1)
    k = check_int("k", k, minimum=1, maximum=input_dim)
    inference_k = check_int(
        "inference_k",
        inference_k,
        minimum=1,
        maximum=input_dim,
        allow_none=True,
    )
    kept = {"training": k, "inference": inference_k or k}
    activate = _activation(activation)
    max_examples = check_int("max_examples", max_examples, minimum=1)
    custom_objects = _check_custom_objects(custom_objects)
    check_nonfinite = check_bool("check_nonfinite", check_nonfinite)
    from sparsekeras.testing import strategies

    rows = strategies.activations(
        batch_sizes=BATCH_SIZES,
        widths=input_dim,
        allow_nan=check_nonfinite,
        allow_infinity=check_nonfinite,
    )

    # One layer for each property and mode, in a compiled call.
    def calls(invariant):
        return {
            mode: _compiled_call(layer_factory, input_dim, mode, invariant)
            for mode in MODES
        }

    call_fresh = calls(assertions.K_LARGEST)
    call_permuted = calls(PERMUTATION)
    call_twice = calls(IDEMPOTENCE)

    @_property(max_examples, rows)
    def keeps_top_k(x):
        for mode, call in call_fresh.items():
            outputs = call(x)
            with _in_mode(mode):
                assertions.assert_keeps_top_k(activate(x), outputs, kept[mode])

    @_property(max_examples, rows, _permutations(input_dim))
    def is_permutation_equivariant(x, permutation):
        # Entries equal on the device (subnormals and 0 under XLA) may swap.
        distinct = assertions.flush_subnormals(activate(x))
        x = x[[len(np.unique(row)) == input_dim for row in distinct]]
        for mode, call in call_permuted.items():
            permuted = call(x[:, permutation])
            expected = call(x)[:, permutation]
            if not np.array_equal(permuted, expected, equal_nan=True):
                raise AssertionError(
                    f"{PERMUTATION} ({mode}): permuting the entries by "
                    f"{permutation} changed the output of\n  {x.tolist()}"
                    f"\nfrom\n  {expected.tolist()}\nto\n  "
                    f"{permuted.tolist()}"
                )

    @_property(
        max_examples,
        strategies.activations(
            batch_sizes=BATCH_SIZES, widths=input_dim, min_value=0
        ),
    )
    def is_idempotent(x):
        for mode, call in call_twice.items():
            once = call(x)
            twice = call(once)
            if not np.array_equal(once, twice, equal_nan=True):
                raise AssertionError(
                    f"{IDEMPOTENCE} ({mode}): the output of\n  {x.tolist()}"
                    f"\nis\n  {once.tolist()}\nand the output of that is"
                    f"\n  {twice.tolist()}"
                )

    keeps_top_k()
    is_permutation_equivariant()
    is_idempotent()
    _check_gradient(layer_factory, input_dim)
    sample = np.random.default_rng(0).permutation(4 * input_dim)
    sample = sample.reshape(4, input_dim).astype("float32")
    _check_config_round_trip(layer_factory, sample)
    _check_saving(layer_factory, sample, custom_objects)
    _check_symbolic_call(layer_factory, input_dim, (None, input_dim))
    _check_fit_step(layer_factory, sample)
    for policy in ("mixed_float16", "mixed_bfloat16"):
        _check_mixed_precision(layer_factory, policy, sample, kept, activate)


def _check_factory(name, factory):
    component = (keras.layers.Layer, keras.regularizers.Regularizer)
    if not callable(factory) or isinstance(factory, component):
        raise TypeError(
            f"Invalid type for `{name}`, expected a callable with no "
            "arguments that returns a new component, such as "
            "`lambda: KSparse(2)`, not the component itself. "
            f"Received: {name}={factory!r} of type {type(factory).__name__}"
        )


def _check_custom_objects(custom_objects):
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(
            "Invalid type for `custom_objects`, expected a dict or None. "
            f"Received: custom_objects={custom_objects!r}"
        )
    return custom_objects


def _activation(activation):
    """`x -> activation(x)` on numpy rows, or the identity for `None`."""
    if activation is None:
        return lambda x: x
    try:
        function = keras.activations.get(activation)
    except (ValueError, TypeError) as error:
        raise ValueError(
            "Invalid value for `activation`, expected None, the name of a "
            "Keras activation such as 'relu', or a callable on tensors. "
            f"Received: activation={activation!r}"
        ) from error
    return lambda x: _numpy(function(ops.convert_to_tensor(x)))


def _check_gradient(layer_factory, input_dim):
    """Gradients through the kept entries only, on one batch of rows.

    One `fit` step per batch is too slow to shrink examples with, so the
    rows are fixed: ascending, descending, negated, and shuffled, all
    distinct and nonzero.
    """
    ascending = np.arange(1, input_dim + 1, dtype="float32")
    shuffled = np.random.default_rng(0).permutation(ascending)
    x = np.stack([ascending, ascending[::-1], -ascending, shuffled])
    invariant = assertions.GRADIENT_THROUGH_KEPT
    outputs = _run(invariant, lambda: _train(layer_factory(), x), x)
    gradients = _run(invariant, lambda: gradient_of_sum(layer_factory(), x), x)
    with _in_mode("training", x):
        assertions.assert_gradient_only_through_kept(gradients, outputs)


def _permutations(size):
    hypothesis = import_hypothesis()
    return hypothesis.strategies.permutations(list(range(size)))


def _outputs_in_both_modes(layer, x):
    return [_numpy(layer(x, training=training)) for training in (False, True)]


def _check_config_round_trip(layer_factory, x):
    layer = layer_factory()
    _run(CONFIG, lambda: layer(x), x)
    config = _run(CONFIG, layer.get_config, x)

    def revive():
        revived = type(layer).from_config(config)
        revived(x)
        revived.set_weights(layer.get_weights())
        return revived

    revived = _run(CONFIG, revive, x)
    expected = _run(CONFIG, lambda: _outputs_in_both_modes(layer, x), x)
    outputs = _run(CONFIG, lambda: _outputs_in_both_modes(revived, x), x)
    modes = ("inference", "training")
    for mode, want, got in zip(modes, expected, outputs, strict=True):
        if not np.array_equal(want, got, equal_nan=True):
            raise AssertionError(
                f"{CONFIG}: the layer made by `from_config(get_config())`"
                f" gives other {mode} outputs.\n  config: {config}\n  "
                f"input: {x.tolist()}\n  expected: {want.tolist()}\n  "
                f"got: {got.tolist()}"
            )


def _check_saving(layer_factory, x, custom_objects):
    layer = layer_factory()
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    objects = {type(layer).__name__: type(layer), **(custom_objects or {})}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "layer.keras")
        _run(SAVING, lambda: model.save(path), x)
        loaded = _run(
            SAVING,
            lambda: keras.models.load_model(
                path, custom_objects=objects, safe_mode=True
            ),
            x,
        )
    for mode, training in MODES.items():
        expected = _run(
            SAVING, lambda t=training: _numpy(model(x, training=t)), x
        )
        got = _run(
            SAVING, lambda t=training: _numpy(_call_quietly(loaded, x, t)), x
        )
        if not np.array_equal(expected, got, equal_nan=True):
            raise AssertionError(
                f"{SAVING} ({mode}): the loaded model gives other outputs."
                f"\n  input: {x.tolist()}\n  expected: {expected.tolist()}"
                f"\n  got: {got.tolist()}"
            )


def _call_quietly(model, x, training=None):
    """Calls a loaded model; Keras 3.10 warns at a one-input model's call."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The structure of `inputs` doesn't match"
        )
        return model(x, training=training)


def _check_symbolic_call(layer_factory, input_dim, expected_shape):
    inputs = keras.Input((input_dim,))
    outputs = _run(SYMBOLIC, lambda: layer_factory()(inputs))
    if tuple(outputs.shape) != tuple(expected_shape):
        raise AssertionError(
            f"{SYMBOLIC}: a `keras.Input(({input_dim},))` gives an output "
            f"of shape {tuple(outputs.shape)}, expected {expected_shape}"
        )


def _check_fit_step(layer_factory, x):
    def fit():
        inputs = keras.Input(x.shape[1:])
        features = keras.layers.Dense(x.shape[-1])(inputs)
        model = keras.Model(inputs, layer_factory()(features))
        target = ops.convert_to_numpy(model(x))
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(x, target, batch_size=len(x), verbose=0)
        return history.history["loss"][0]

    loss = _run(FIT, fit, x)
    if not np.isfinite(loss):
        raise AssertionError(f"{FIT}: the loss is {loss}" + _on(x))


def _check_mixed_precision(layer_factory, policy, x, kept, activate):
    expected_dtype = policy[len("mixed_") :]
    seen = activate(_numpy(ops.cast(x, expected_dtype)))
    for mode, training in MODES.items():
        with _policy(policy):
            layer = layer_factory()
            outputs = _run(
                f"{MIXED_PRECISION} ({mode})",
                lambda layer=layer, t=training: layer(x, training=t),
                x,
            )
        dtype = keras.backend.standardize_dtype(outputs.dtype)
        if dtype != expected_dtype:
            raise AssertionError(
                f"{MIXED_PRECISION} ({mode}): under {policy} the output is "
                f"{dtype}, expected {expected_dtype}" + _on(x)
            )
        try:
            assertions.assert_keeps_top_k(seen, _numpy(outputs), kept[mode])
        except AssertionError as error:
            raise AssertionError(
                f"{MIXED_PRECISION} ({policy}, {mode}): {error}"
            ) from None


def check_dictionary_layer(
    layer_factory,
    *,
    input_dim,
    units,
    k,
    max_examples=10,
    custom_objects=None,
):
    """Checks a dictionary layer's invariants, as `NeuralSparseCoding` has.

    The layer holds a `dictionary` weight of shape `(input_dim, units)`
    and outputs codes of shape `(batch, units)`. On planted sparse signals
    (`strategies.planted_sparse_signals`, the first failing one shown, not
    shrunk) it checks, over a training call, an inference call and a
    training call: unit-norm atoms after building and after every call,
    codes with exactly `k` nonzero entries per row in both modes, and a
    dictionary that inference leaves unchanged; then a `get_config` /
    `from_config` round trip, a `.keras` save and load giving the same
    codes in both modes, and a symbolic call.

    Args:
        layer_factory: a callable with no arguments returning a new,
            unbuilt layer.
        input_dim: int, the size of the input rows.
        units: int, the number of atoms.
        k: int, the number of nonzero codes per row.
        max_examples: int, defaults to `10`. The number of examples.
        custom_objects: dict, or `None` (the default), as for
            `check_top_k_layer`.

    Raises:
        AssertionError: whose message starts with the broken invariant.

    Example:

    >>> from sparsekeras.layers import NeuralSparseCoding
    >>> from sparsekeras.testing import check_dictionary_layer
    >>> check_dictionary_layer(lambda: NeuralSparseCoding(6, k=2),
    ...                        input_dim=4, units=6, k=2, max_examples=2)
    """
    _check_factory("layer_factory", layer_factory)
    input_dim = check_int("input_dim", input_dim, minimum=1)
    units = check_int("units", units, minimum=1)
    k = check_int("k", k, minimum=1, maximum=units)
    max_examples = check_int("max_examples", max_examples, minimum=1)
    custom_objects = _check_custom_objects(custom_objects)
    from sparsekeras.testing import strategies

    signals = strategies.planted_sparse_signals(
        input_dim=input_dim, units=units, k=k
    )

    # Not shrunk: a planted signal has no simpler form worth the many
    # training calls shrinking takes; the first failing one is shown.
    @_property(max_examples, signals, shrink=False)
    def atoms_stay_unit_norm_and_codes_k_sparse(planted):
        y, _, _ = planted
        layer = layer_factory()
        _run(UNIT_NORM, lambda: layer.build((None, input_dim)))
        assertions.assert_unit_norm_columns(layer.dictionary)
        for call, mode in enumerate(("training", "inference", "training")):
            before = _numpy(layer.dictionary)
            codes = _run(
                assertions.EXACTLY_K,
                lambda mode=mode: _numpy(layer(y, training=MODES[mode])),
                y,
            )
            with _in_mode(mode, y):
                assertions.assert_unit_norm_columns(layer.dictionary)
            if mode == "inference" and not np.array_equal(
                before, _numpy(layer.dictionary), equal_nan=True
            ):
                raise AssertionError(
                    f"{INFERENCE_KEEPS_DICTIONARY}: call {call + 1} changed "
                    f"the dictionary" + _on(y)
                )
            counts = np.count_nonzero(codes, axis=-1)
            if np.any(counts != k):
                row = int(np.flatnonzero(counts != k)[0])
                raise AssertionError(
                    f"{assertions.EXACTLY_K} ({mode}): row {row} has codes "
                    f"{codes[row].tolist()}, {counts[row]} nonzero, "
                    f"expected k={k}\n  input row: {y[row].tolist()}"
                )

    atoms_stay_unit_norm_and_codes_k_sparse()
    sample = np.random.default_rng(0).normal(size=(4, input_dim))
    sample = sample.astype("float32")
    _check_config_round_trip(layer_factory, sample)
    _check_saving(layer_factory, sample, custom_objects)
    _check_symbolic_call(layer_factory, input_dim, (None, units))


def check_sparsity_regularizer(regularizer_factory, *, rho, units=4, atol=1e-6):
    """Checks an activity regularizer that pulls mean activations to `rho`.

    The regularizer must be zero (within `atol`) where every unit's mean
    activation is `rho` (a batch whose every entry is `rho`), above `atol`
    elsewhere, and its gradient must push each unit's activations toward
    `rho`: positive where the mean is above it, negative where below. Its
    `get_config` / `from_config` round trip must give the same values.

    Args:
        regularizer_factory: a callable with no arguments returning a new
            regularizer (called on a batch of activations).
        rho: float in `(0, 1)`, the target mean activation.
        units: int >= 1, defaults to `4`. The width of the batches tried.
        atol: number >= 0, defaults to `1e-6`. How far from 0 the penalty
            at `rho` may be: float round-off leaves a correct penalty a few
            ulps away from 0 (2.2e-16, say).

    Raises:
        AssertionError: whose message starts with the broken invariant.

    Example:

    >>> from sparsekeras.regularizers import KLSparsityRegularizer
    >>> from sparsekeras.testing import check_sparsity_regularizer
    >>> check_sparsity_regularizer(
    ...     lambda: KLSparsityRegularizer(rho=0.1), rho=0.1
    ... )
    """
    _check_factory("regularizer_factory", regularizer_factory)
    rho = check_float("rho", rho, minimum=0.0, maximum=1.0, exclusive=True)
    units = check_int("units", units, minimum=1)
    atol = check_float("atol", atol, minimum=0.0)
    regularizer = regularizer_factory()
    for batch in (1, 3, 8):
        at_rho = np.full((batch, units), rho, dtype="float32")
        value = _run(
            ZERO_AT_RHO, lambda x=at_rho: float(_numpy(regularizer(x))), at_rho
        )
        if not abs(value) <= atol:
            raise AssertionError(
                f"{ZERO_AT_RHO}: the penalty of {batch} rows of {rho} is "
                f"{value}, expected 0 within atol={atol}" + _on(at_rho)
            )
    means = np.resize([rho / 2, (1 + rho) / 2], units)
    away = np.tile(means, (4, 1)).astype("float32")
    value = _run(ZERO_AT_RHO, lambda: float(_numpy(regularizer(away))), away)
    if not value > atol:
        raise AssertionError(
            f"{ZERO_AT_RHO}: the penalty of {away.tolist()}, whose means "
            f"are not {rho}, is {value}, expected > atol={atol}"
        )
    gradients = _run(
        GRADIENT_SIGN,
        lambda: gradient_of_sum(regularizer_factory(), away),
        away,
    )
    expected = np.sign(away.mean(axis=0) - rho)
    wrong = np.sign(gradients) != expected
    if wrong.any():
        raise AssertionError(
            f"{GRADIENT_SIGN}: the gradient at {away.tolist()} is "
            f"{gradients.tolist()}; a unit whose mean is above {rho} must "
            f"get a positive one, below {rho} a negative one"
        )
    revived = _run(
        CONFIG,
        lambda: type(regularizer).from_config(regularizer.get_config()),
        away,
    )
    if _run(CONFIG, lambda: float(_numpy(revived(away))), away) != value:
        raise AssertionError(
            f"{CONFIG}: `from_config(get_config())` gives another penalty "
            f"of {away.tolist()}"
        )
