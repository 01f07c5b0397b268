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
ZERO_AT_RHO = "zero exactly at rho"
GRADIENT_SIGN = "gradient sign"

BATCH_SIZES = (0, 1, 2, 7)


def _run(invariant, function):
    """Calls `function`, turning any non-assertion error into one."""
    try:
        return function()
    except AssertionError:
        raise
    except Exception as error:
        raise AssertionError(
            f"{invariant}: raised {type(error).__name__}: {error}"
        ) from error


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


class _InTraining(keras.Model):
    """Calls a layer with `training=True`, compiled by `predict_on_batch`.

    One compiled function per input shape replaces the eager calls, which
    JAX compiles operation by operation.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def call(self, inputs):
        return self.layer(inputs, training=True)


def _compiled_training_call(layer_factory, input_dim):
    model = _InTraining(layer_factory(), name="in_training")
    # Built by a symbolic call: TensorFlow's compiled function may make
    # variables on its first trace only.
    model(keras.Input((input_dim,)))
    return lambda x: _numpy(model.predict_on_batch(x))


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
    max_examples=20,
    custom_objects=None,
    check_nonfinite=False,
):
    """Checks that a layer keeps the top `k` of each row, as `KSparse` does.

    On fresh layers from `layer_factory`, called in training mode on
    `(batch, input_dim)` inputs drawn by `strategies.activations` (finite
    unless `check_nonfinite`), it checks: exactly `k` kept per row, and
    the `k` largest (ties either way; `assert_keeps_top_k`); permutation
    equivariance of the last axis (rows of distinct values); idempotence
    (non-negative rows). Then, on fixed rows: gradients through the kept
    entries only; a `get_config` / `from_config` round trip and a `.keras`
    save and safe-mode load of `Input -> layer` giving the same outputs; a
    symbolic call; one `fit` step of `Input -> Dense -> layer`; a call
    under `mixed_float16` and `mixed_bfloat16`. The drawn calls are
    compiled (`predict_on_batch`), as `fit` compiles them. See
    [Property-testing your sparse model][property-testing-your-sparse-model].

    Args:
        layer_factory: a callable with no arguments returning a new,
            unbuilt layer that keeps `k` entries per row in training.
        k: int, the number of entries the layer keeps per row.
        input_dim: int >= `k`, the size of the last axis of the inputs.
        max_examples: int, defaults to `20`. The number of examples drawn
            for each property.
        custom_objects: dict, or `None` (the default). Objects the saved
            layer needs besides its own class, which is always passed, so
            user classes need not be registered.
        check_nonfinite: bool, defaults to `False`. Whether inputs may hold
            NaN and `±inf`, checked against sparsekeras's rule: NaN ranks
            above every number and is kept as NaN.

    Raises:
        AssertionError: whose message starts with the broken invariant.

    Example:

    >>> from sparsekeras.layers import KSparse
    >>> from sparsekeras.testing import check_top_k_layer
    >>> check_top_k_layer(lambda: KSparse(2), k=2, input_dim=5,
    ...                   max_examples=3)
    """
    from sparsekeras.testing import strategies

    rows = strategies.activations(
        batch_sizes=BATCH_SIZES,
        widths=input_dim,
        allow_nan=check_nonfinite,
        allow_infinity=check_nonfinite,
    )

    # One layer for each property, in a compiled training call.
    call_fresh, call_permuted, call_twice = (
        _compiled_training_call(layer_factory, input_dim) for _ in range(3)
    )

    @_property(max_examples, rows)
    def keeps_top_k(x):
        assertions.assert_keeps_top_k(x, call_fresh(x), k)

    @_property(max_examples, rows, _permutations(input_dim))
    def is_permutation_equivariant(x, permutation):
        # Entries equal on the device (subnormals and 0 under XLA) may swap.
        distinct = assertions.flush_subnormals(x)
        x = x[[len(np.unique(row)) == input_dim for row in distinct]]
        permuted = call_permuted(x[:, permutation])
        expected = call_permuted(x)[:, permutation]
        if not np.array_equal(permuted, expected, equal_nan=True):
            raise AssertionError(
                f"{PERMUTATION}: permuting the entries by {permutation} "
                f"changed the output of\n  {x.tolist()}\nfrom\n  "
                f"{expected.tolist()}\nto\n  {permuted.tolist()}"
            )

    @_property(
        max_examples,
        strategies.activations(
            batch_sizes=BATCH_SIZES, widths=input_dim, min_value=0
        ),
    )
    def is_idempotent(x):
        once = call_twice(x)
        twice = call_twice(once)
        if not np.array_equal(once, twice, equal_nan=True):
            raise AssertionError(
                f"{IDEMPOTENCE}: the output of\n  {x.tolist()}\nis\n  "
                f"{once.tolist()}\nand the output of that is\n  "
                f"{twice.tolist()}"
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
        _check_mixed_precision(layer_factory, policy, sample, k)


def _check_gradient(layer_factory, input_dim):
    """Gradients through the kept entries only, on one batch of rows.

    One `fit` step per batch is too slow to shrink examples with, so the
    rows are fixed: ascending, descending, negated, and shuffled, all
    distinct and nonzero.
    """
    ascending = np.arange(1, input_dim + 1, dtype="float32")
    shuffled = np.random.default_rng(0).permutation(ascending)
    x = np.stack([ascending, ascending[::-1], -ascending, shuffled])
    outputs = _train(layer_factory(), x)
    gradients = gradient_of_sum(layer_factory(), x)
    assertions.assert_gradient_only_through_kept(gradients, outputs)


def _permutations(size):
    hypothesis = import_hypothesis()
    return hypothesis.strategies.permutations(list(range(size)))


def _outputs_in_both_modes(layer, x):
    return [_numpy(layer(x, training=training)) for training in (False, True)]


def _check_config_round_trip(layer_factory, x):
    layer = layer_factory()
    layer(x)
    config = layer.get_config()

    def revive():
        revived = type(layer).from_config(config)
        revived(x)
        revived.set_weights(layer.get_weights())
        return revived

    revived = _run(CONFIG, revive)
    expected = _outputs_in_both_modes(layer, x)
    outputs = _run(CONFIG, lambda: _outputs_in_both_modes(revived, x))
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
    expected = _numpy(model(x))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "layer.keras")
        _run(SAVING, lambda: model.save(path))
        loaded = _run(
            SAVING,
            lambda: keras.models.load_model(
                path, custom_objects=objects, safe_mode=True
            ),
        )
    got = _run(SAVING, lambda: _numpy(_call_quietly(loaded, x)))
    if not np.array_equal(expected, got, equal_nan=True):
        raise AssertionError(
            f"{SAVING}: the loaded model gives other outputs.\n  input: "
            f"{x.tolist()}\n  expected: {expected.tolist()}\n  "
            f"got: {got.tolist()}"
        )


def _call_quietly(model, x):
    """Calls a loaded model; Keras 3.10 warns at a one-input model's call."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The structure of `inputs` doesn't match"
        )
        return model(x)


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

    loss = _run(FIT, fit)
    if not np.isfinite(loss):
        raise AssertionError(f"{FIT}: the loss is {loss}")


def _check_mixed_precision(layer_factory, policy, x, k):
    with _policy(policy):
        layer = layer_factory()
        outputs = _run(MIXED_PRECISION, lambda: layer(x, training=True))
    expected_dtype = policy[len("mixed_") :]
    dtype = keras.backend.standardize_dtype(outputs.dtype)
    if dtype != expected_dtype:
        raise AssertionError(
            f"{MIXED_PRECISION}: under {policy} the output is {dtype}, "
            f"expected {expected_dtype}"
        )
    seen = _numpy(ops.cast(x, expected_dtype))
    try:
        assertions.assert_keeps_top_k(seen, _numpy(outputs), k)
    except AssertionError as error:
        raise AssertionError(f"{MIXED_PRECISION} ({policy}): {error}") from None


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
    shrunk) it checks: unit-norm atoms after building and after every
    training call, and codes with exactly `k` nonzero entries per row;
    then a `get_config` / `from_config` round
    trip, a `.keras` save and load giving the same codes, and a symbolic
    call.

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
        layer.build((None, input_dim))
        assertions.assert_unit_norm_columns(layer.dictionary)
        for call in (1, 2):
            codes = _train(layer, y)
            try:
                assertions.assert_unit_norm_columns(layer.dictionary)
            except AssertionError as error:
                raise AssertionError(
                    f"{error}, after training call {call} on\n  {y.tolist()}"
                ) from None
            counts = np.count_nonzero(codes, axis=-1)
            if np.any(counts != k):
                row = int(np.flatnonzero(counts != k)[0])
                raise AssertionError(
                    f"{assertions.EXACTLY_K}: row {row} has codes "
                    f"{codes[row].tolist()}, {counts[row]} nonzero, "
                    f"expected k={k}\n  input row: {y[row].tolist()}"
                )

    atoms_stay_unit_norm_and_codes_k_sparse()
    sample = np.random.default_rng(0).normal(size=(4, input_dim))
    sample = sample.astype("float32")
    _check_config_round_trip(layer_factory, sample)
    _check_saving(layer_factory, sample, custom_objects)
    _check_symbolic_call(layer_factory, input_dim, (None, units))


def check_sparsity_regularizer(regularizer_factory, *, rho, units=4):
    """Checks an activity regularizer that pulls mean activations to `rho`.

    The regularizer must be zero exactly where every unit's mean
    activation is `rho` (a batch whose every entry is `rho`), positive
    elsewhere, and its gradient must push each unit's activations toward
    `rho`: positive where the mean is above it, negative where below. Its
    `get_config` / `from_config` round trip must give the same values.

    Args:
        regularizer_factory: a callable with no arguments returning a new
            regularizer (called on a batch of activations).
        rho: float in `(0, 1)`, the target mean activation.
        units: int, defaults to `4`. The width of the batches tried.

    Raises:
        AssertionError: whose message starts with the broken invariant.

    Example:

    >>> from sparsekeras.regularizers import KLSparsityRegularizer
    >>> from sparsekeras.testing import check_sparsity_regularizer
    >>> check_sparsity_regularizer(
    ...     lambda: KLSparsityRegularizer(rho=0.1), rho=0.1
    ... )
    """
    regularizer = regularizer_factory()
    for batch in (1, 3, 8):
        at_rho = np.full((batch, units), rho, dtype="float32")
        value = float(_numpy(regularizer(at_rho)))
        if value != 0:
            raise AssertionError(
                f"{ZERO_AT_RHO}: the penalty of {batch} rows of {rho} is "
                f"{value}, expected 0"
            )
    means = np.resize([rho / 2, (1 + rho) / 2], units)
    away = np.tile(means, (4, 1)).astype("float32")
    value = float(_numpy(regularizer(away)))
    if not value > 0:
        raise AssertionError(
            f"{ZERO_AT_RHO}: the penalty of {away.tolist()}, whose means "
            f"are not {rho}, is {value}, expected > 0"
        )
    gradients = gradient_of_sum(regularizer_factory(), away)
    expected = np.sign(away.mean(axis=0) - rho)
    wrong = np.sign(gradients) != expected
    if wrong.any():
        raise AssertionError(
            f"{GRADIENT_SIGN}: the gradient at {away.tolist()} is "
            f"{gradients.tolist()}; a unit whose mean is above {rho} must "
            f"get a positive one, below {rho} a negative one"
        )
    revived = _run(
        CONFIG, lambda: type(regularizer).from_config(regularizer.get_config())
    )
    if float(_numpy(revived(away))) != value:
        raise AssertionError(
            f"{CONFIG}: `from_config(get_config())` gives another penalty "
            f"of {away.tolist()}"
        )
