import os

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops

from sparsekeras.regularizers import WeightDecay

from helpers import check_keras_round_trip

kernels = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
    elements=st.floats(-10.0, 10.0, width=32),
)
strengths = st.floats(0.0, 1.0, width=32, allow_subnormal=False)


def regularized_model(kernel_regularizer):
    inputs = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(
        3,
        activation="sigmoid",
        kernel_initializer=keras.initializers.RandomNormal(seed=1),
        kernel_regularizer=kernel_regularizer,
    )(inputs)
    outputs = keras.layers.Dense(
        4,
        kernel_initializer=keras.initializers.RandomNormal(seed=2),
        kernel_regularizer=kernel_regularizer,
    )(hidden)
    return keras.Model(inputs, outputs)


def total_loss(model):
    return float(ops.convert_to_numpy(ops.sum(model.losses)))


@settings(max_examples=30, deadline=None)
@given(kernel=kernels, strength=strengths)
def test_penalty_is_half_strength_times_sum_of_squares(kernel, strength):
    expected = strength / 2 * np.sum(np.square(kernel, dtype=np.float64))
    np.testing.assert_allclose(
        ops.convert_to_numpy(WeightDecay(strength)(kernel)),
        expected,
        rtol=1e-5,
        atol=1e-30,
    )


@settings(max_examples=30, deadline=None)
@given(kernel=kernels, strength=strengths)
def test_equals_keras_l2_of_half_the_strength(kernel, strength):
    np.testing.assert_array_equal(
        ops.convert_to_numpy(WeightDecay(strength)(kernel)),
        ops.convert_to_numpy(keras.regularizers.L2(strength / 2)(kernel)),
    )


def test_model_losses_equal_those_of_keras_l2():
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    decayed = regularized_model(WeightDecay(0.3))
    decayed(x)
    l2 = regularized_model(keras.regularizers.L2(0.15))
    l2(x)
    assert total_loss(decayed) == total_loss(l2)
    kernels_squared = sum(
        np.sum(np.square(ops.convert_to_numpy(layer.kernel)))
        for layer in decayed.layers[1:]
    )
    np.testing.assert_allclose(
        total_loss(decayed), 0.15 * kernels_squared, rtol=1e-6
    )


def test_penalty_does_not_depend_on_batch_size():
    model = regularized_model(WeightDecay())
    rng = np.random.default_rng(0)
    model(rng.normal(size=(1, 4)).astype("float32"))
    one = total_loss(model)
    model(rng.normal(size=(64, 4)).astype("float32"))
    assert total_loss(model) == one


def test_zero_strength_gives_zero():
    kernel = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    assert float(ops.convert_to_numpy(WeightDecay(0.0)(kernel))) == 0.0


def test_keeps_weight_dtype_like_keras_l2():
    kernel = np.ones((2, 2), dtype="float16")
    value = WeightDecay(0.5)(kernel)
    assert keras.backend.standardize_dtype(value.dtype) == "float16"
    assert float(ops.convert_to_numpy(value)) == 1.0


def test_mixed_precision_model_keeps_float32_penalty():
    keras.config.set_dtype_policy("mixed_float16")
    model = regularized_model(WeightDecay(0.3))
    model(np.zeros((2, 4), dtype="float32"))
    for loss in model.losses:
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    assert np.isfinite(total_loss(model))


def test_get_config_returns_constructor_arguments():
    regularizer = WeightDecay(strength=0.25)
    assert regularizer.get_config() == {"strength": 0.25}
    revived = WeightDecay.from_config(regularizer.get_config())
    assert revived.get_config() == regularizer.get_config()


def test_serialization_round_trip():
    regularizer = WeightDecay(strength=0.25)
    serialized = keras.saving.serialize_keras_object(regularizer)
    assert serialized["registered_name"] == "sparsekeras>WeightDecay"
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is WeightDecay
    assert revived.get_config() == regularizer.get_config()


def test_model_survives_keras_file_round_trip(tmp_path):
    model = regularized_model(WeightDecay(strength=0.25))
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    loaded = check_keras_round_trip(
        model, x, os.path.join(tmp_path, "weight_decay.keras")
    )
    regularizer = loaded.layers[1].kernel_regularizer
    assert type(regularizer) is WeightDecay
    assert regularizer.get_config() == {"strength": 0.25}
    assert total_loss(loaded) == total_loss(model)


@pytest.mark.parametrize(
    "strength, error, message",
    [
        (-1e-3, ValueError, "`strength`.*Received: strength=-0.001"),
        (float("nan"), ValueError, "`strength`.*Received: strength=nan"),
        (float("inf"), ValueError, "`strength`.*Received: strength=inf"),
        ("0.1", TypeError, "`strength`.*Received: strength='0.1'"),
        (None, TypeError, "`strength`.*Received: strength=None"),
    ],
)
def test_invalid_strength_is_named_in_the_error(strength, error, message):
    with pytest.raises(error, match=message):
        WeightDecay(strength)
