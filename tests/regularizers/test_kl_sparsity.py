import os

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops

from sparsekeras.regularizers import KLSparsityRegularizer, kl_sparsity
from sparsekeras.testing import gradient_of_sum

from helpers import call_loaded, check_keras_round_trip


def numpy_penalty(activations, rho, beta):
    """The formula in float64, averaging over every axis but the last."""
    activations = np.asarray(activations, dtype=np.float64)
    rho_hat = activations.reshape(-1, activations.shape[-1]).mean(axis=0)
    kl = rho * np.log(rho / rho_hat) + (1 - rho) * np.log(
        (1 - rho) / (1 - rho_hat)
    )
    return beta * kl.sum()


def sigmoid_model(regularizer, input_dim=4, units=3):
    inputs = keras.Input(shape=(input_dim,))
    outputs = keras.layers.Dense(
        units,
        activation="sigmoid",
        kernel_initializer=keras.initializers.RandomNormal(seed=1),
        bias_initializer=keras.initializers.RandomNormal(seed=2),
        activity_regularizer=regularizer,
    )(inputs)
    return keras.Model(inputs, outputs)


def random_inputs(batch_size, input_dim=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch_size, input_dim)).astype("float32")


def penalty_and_gradient(regularizer, activations):
    """`regularizer.penalty` of `activations`, in their dtype, and its
    gradient."""
    dtype = activations.dtype.name

    def penalty(x):
        return regularizer.penalty(ops.cast(x, dtype))

    value = ops.convert_to_numpy(regularizer.penalty(activations))
    return value, gradient_of_sum(penalty, activations)


unit_activations = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
    elements=st.floats(2**-10, 1 - 2**-10, width=32),
)


@settings(max_examples=30, deadline=None)
@given(
    activations=unit_activations,
    rho=st.floats(0.01, 0.99),
    beta=st.floats(0.0, 10.0, width=32, allow_subnormal=False),
)
def test_penalty_matches_numpy_formula(activations, rho, beta):
    regularizer = KLSparsityRegularizer(rho=rho, beta=beta)
    expected = numpy_penalty(activations, rho, beta)
    np.testing.assert_allclose(
        ops.convert_to_numpy(regularizer.penalty(activations)),
        expected,
        rtol=1e-4,
        atol=1e-5 * (1 + beta),
    )


def test_penalty_averages_over_every_axis_but_the_last():
    activations = np.random.default_rng(0).uniform(0.01, 0.99, size=(3, 5, 2))
    regularizer = KLSparsityRegularizer(rho=0.2, beta=2.0)
    np.testing.assert_allclose(
        ops.convert_to_numpy(regularizer.penalty(activations)),
        numpy_penalty(activations, 0.2, 2.0),
        rtol=1e-5,
    )


@settings(max_examples=30, deadline=None)
@given(
    rho_steps=st.integers(1, 255),
    spread_steps=st.integers(0, 255),
    half_batch=st.integers(1, 8),
    units=st.integers(1, 4),
    shift_steps=st.integers(1, 8),
)
def test_penalty_is_zero_exactly_when_every_mean_is_rho(
    rho_steps, spread_steps, half_batch, units, shift_steps
):
    # Multiples of 1/256 keep the batch mean exact in float32.
    rho = rho_steps / 256
    spread = min(spread_steps, rho_steps, 256 - rho_steps) / 256
    column = np.repeat([rho - spread, rho + spread], half_batch)
    on_target = np.tile(column[:, None], (1, units)).astype("float32")
    regularizer = KLSparsityRegularizer(rho=rho)
    assert float(ops.convert_to_numpy(regularizer.penalty(on_target))) == 0.0

    off_target = on_target.copy()
    shift = shift_steps / 256 if rho < 0.5 else -shift_steps / 256
    off_target[:, -1] += shift
    assert float(ops.convert_to_numpy(regularizer.penalty(off_target))) > 0.0


@settings(max_examples=30, deadline=None)
@given(
    activations=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
        elements=st.floats(0.0, 1.0, width=32),
    ),
    rho=st.floats(1e-3, 1 - 1e-3),
)
def test_penalty_is_finite_and_non_negative(activations, rho):
    value = ops.convert_to_numpy(
        KLSparsityRegularizer(rho=rho).penalty(activations)
    )
    assert np.isfinite(value)
    assert value >= 0.0


@settings(max_examples=20, deadline=None)
@given(rho=st.floats(2**-7, 1 - 2**-7, width=32))
def test_round_off_near_rho_never_makes_penalty_negative(rho):
    # Mean activations a few float32 steps from rho, where the two log terms
    # cancel and round-off alone decides the sign of each unit's KL.
    rho = np.float32(rho)
    steps = [rho]
    for direction in (np.float32(0.0), np.float32(1.0)):
        value = rho
        for _ in range(8):
            value = np.nextafter(value, direction)
            steps.append(value)
    activations = np.array([steps], dtype="float32")
    penalty = KLSparsityRegularizer(rho=float(rho)).penalty(activations)
    assert float(ops.convert_to_numpy(penalty)) >= 0.0


@settings(max_examples=15, deadline=None)
@given(activations=unit_activations, copies=st.integers(2, 5))
def test_penalty_does_not_depend_on_batch_size(activations, copies):
    regularizer = KLSparsityRegularizer()
    np.testing.assert_allclose(
        ops.convert_to_numpy(
            regularizer.penalty(np.tile(activations, (copies, 1)))
        ),
        ops.convert_to_numpy(regularizer.penalty(activations)),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize(
    "activations",
    [
        np.zeros((4, 3)),
        np.ones((4, 3)),
        np.array([[0.0, 1.0, 0.5], [0.0, 1.0, 0.0]]),
        np.zeros((1, 3)),
    ],
    ids=["all_zero", "all_one", "dead_and_saturated_units", "single_zero"],
)
def test_saturated_activations_give_finite_penalty_and_gradient(
    activations, dtype
):
    value, gradient = penalty_and_gradient(
        KLSparsityRegularizer(), activations.astype(dtype)
    )
    assert np.isfinite(value)
    assert value > 0.0
    assert np.all(np.isfinite(gradient))


def test_penalty_is_float32_for_float16_activations():
    activations = np.full((2, 3), 0.25, dtype="float16")
    value = KLSparsityRegularizer().penalty(activations)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"


def test_saturated_layer_trains_with_finite_loss_and_weights():
    inputs = keras.Input(shape=(2,))
    outputs = keras.layers.Dense(
        2,
        activation="sigmoid",
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant([-200.0, 200.0]),
        activity_regularizer=KLSparsityRegularizer(),
    )(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = random_inputs(8, input_dim=2)
    history = model.fit(
        x, np.full((8, 2), 0.5), batch_size=8, epochs=2, verbose=0
    )
    assert np.all(np.isfinite(history.history["loss"]))
    for weight in model.weights:
        assert np.all(np.isfinite(ops.convert_to_numpy(weight)))


def test_empty_batch_adds_zero():
    regularizer = KLSparsityRegularizer()
    empty = np.zeros((0, 3), dtype="float32")
    assert float(ops.convert_to_numpy(regularizer.penalty(empty))) == 0.0
    assert float(ops.convert_to_numpy(regularizer(empty))) == 0.0
    model = sigmoid_model(regularizer)
    model(np.zeros((0, 4), dtype="float32"))
    assert float(ops.convert_to_numpy(ops.sum(model.losses))) == 0.0


def test_batch_size_compensation_matches_installed_keras():
    # A constant activity loss of 6 on a batch of 3 comes out as 2 exactly
    # when this Keras divides by the batch size.
    layer = keras.layers.Dense(
        1, activity_regularizer=lambda x: ops.convert_to_tensor(6.0)
    )
    layer(np.zeros((3, 2), dtype="float32"))
    divided = float(ops.convert_to_numpy(layer.losses[0])) == 2.0
    assert kl_sparsity.KERAS_DIVIDES_ACTIVITY_LOSSES is divided


@pytest.mark.parametrize("batch_size", [1, 3, 32, 100])
def test_model_losses_equal_formula_at_every_batch_size(batch_size):
    model = sigmoid_model(KLSparsityRegularizer(rho=0.1, beta=2.5))
    outputs = ops.convert_to_numpy(model(random_inputs(batch_size)))
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.sum(model.losses)),
        numpy_penalty(outputs, 0.1, 2.5),
        rtol=1e-5,
    )


def test_model_losses_equal_formula_on_sequence_outputs():
    inputs = keras.Input(shape=(5, 4))
    outputs = keras.layers.Dense(
        3,
        activation="sigmoid",
        kernel_initializer=keras.initializers.RandomNormal(seed=1),
        activity_regularizer=KLSparsityRegularizer(),
    )(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(6, 5, 4)).astype("float32")
    activations = ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.sum(model.losses)),
        numpy_penalty(activations, 0.05, 3.0),
        rtol=1e-5,
    )


def test_fit_loss_equals_formula_at_every_batch_size():
    # One model fitted at several batch sizes also exercises a traced train
    # step whose batch dimension is unknown. With a learning rate of 0 the
    # targets stay the model's own outputs, so the data loss is 0 and the
    # reported loss is the penalty alone.
    model = sigmoid_model(KLSparsityRegularizer(rho=0.1, beta=2.5))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    for batch_size in (1, 3, 32, 100):
        x = random_inputs(batch_size, seed=batch_size)
        targets = ops.convert_to_numpy(model(x))
        history = model.fit(
            x, targets, batch_size=batch_size, epochs=1, verbose=0
        )
        np.testing.assert_allclose(
            history.history["loss"][0],
            numpy_penalty(targets, 0.1, 2.5),
            rtol=1e-5,
            err_msg=f"batch_size={batch_size}",
        )


@pytest.mark.parametrize(
    "policy, rtol", [("mixed_float16", 2e-3), ("mixed_bfloat16", 2e-2)]
)
def test_mixed_precision_loss_matches_float32_formula(policy, rtol):
    x = random_inputs(32)
    regularizer = KLSparsityRegularizer(rho=0.1, beta=2.5)
    float32_outputs = ops.convert_to_numpy(sigmoid_model(regularizer)(x))
    float32_penalty = numpy_penalty(float32_outputs, 0.1, 2.5)

    keras.config.set_dtype_policy(policy)
    model = sigmoid_model(regularizer)
    outputs = model(x)
    mixed_outputs = ops.convert_to_numpy(ops.cast(outputs, "float32"))
    losses = ops.convert_to_numpy(ops.sum(model.losses))
    assert np.isfinite(losses)
    # Computed in float32 from the low-precision activations, so it matches
    # the float64 formula on those activations tightly...
    np.testing.assert_allclose(
        losses, numpy_penalty(mixed_outputs, 0.1, 2.5), rtol=1e-5
    )
    # ...and the float32 model's penalty up to the activations' rounding.
    np.testing.assert_allclose(losses, float32_penalty, rtol=rtol)

    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    history = model.fit(x, mixed_outputs, batch_size=32, epochs=1, verbose=0)
    np.testing.assert_allclose(
        history.history["loss"][0], float32_penalty, rtol=rtol
    )


def test_get_config_returns_constructor_arguments():
    regularizer = KLSparsityRegularizer(rho=0.2, beta=1.5)
    assert regularizer.get_config() == {"rho": 0.2, "beta": 1.5}
    revived = KLSparsityRegularizer.from_config(regularizer.get_config())
    assert revived.get_config() == regularizer.get_config()


def test_serialization_round_trip():
    regularizer = KLSparsityRegularizer(rho=0.2, beta=1.5)
    serialized = keras.saving.serialize_keras_object(regularizer)
    assert serialized["registered_name"] == "sparsekeras>KLSparsityRegularizer"
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is KLSparsityRegularizer
    assert revived.get_config() == regularizer.get_config()


def test_model_survives_keras_file_round_trip(tmp_path):
    model = sigmoid_model(KLSparsityRegularizer(rho=0.2, beta=1.5))
    x = random_inputs(5)
    loaded = check_keras_round_trip(
        model, x, os.path.join(tmp_path, "kl_sparsity.keras")
    )
    regularizer = loaded.layers[-1].activity_regularizer
    assert type(regularizer) is KLSparsityRegularizer
    assert regularizer.get_config() == {"rho": 0.2, "beta": 1.5}
    model(x)
    call_loaded(loaded, x)
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.sum(loaded.losses)),
        ops.convert_to_numpy(ops.sum(model.losses)),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"rho": 0}, ValueError, "`rho`.*Received: rho=0.0"),
        ({"rho": 1}, ValueError, "`rho`.*Received: rho=1.0"),
        ({"rho": -0.5}, ValueError, "`rho`.*Received: rho=-0.5"),
        ({"rho": float("nan")}, ValueError, "`rho`.*Received: rho=nan"),
        ({"rho": "0.1"}, TypeError, "`rho`.*Received: rho='0.1'"),
        ({"beta": -1.0}, ValueError, "`beta`.*Received: beta=-1.0"),
        ({"beta": float("inf")}, ValueError, "`beta`.*Received: beta=inf"),
        ({"beta": None}, TypeError, "`beta`.*Received: beta=None"),
        ({"beta": True}, TypeError, "`beta`.*Received: beta=True"),
    ],
)
def test_invalid_arguments_are_named_in_the_error(kwargs, error, message):
    with pytest.raises(error, match=message):
        KLSparsityRegularizer(**kwargs)


def test_accepts_boundary_beta_and_integer_arguments():
    regularizer = KLSparsityRegularizer(rho=0.5, beta=0)
    assert regularizer.get_config() == {"rho": 0.5, "beta": 0.0}
    assert (
        float(ops.convert_to_numpy(regularizer.penalty(np.zeros((2, 2)))))
        == 0.0
    )
