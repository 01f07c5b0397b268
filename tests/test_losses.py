import keras
import numpy as np
import pytest

from sparsekeras.losses import SquaredErrorCost

from helpers import check_keras_round_trip


def test_cost_is_scale_times_squared_norm_averaged_over_the_batch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5)).astype("float32")
    x_hat = rng.normal(size=(6, 5)).astype("float32")
    expected = 0.5 * np.mean(np.sum((x - x_hat) ** 2, axis=-1))
    np.testing.assert_allclose(
        float(SquaredErrorCost()(x, x_hat)), expected, rtol=1e-5
    )
    np.testing.assert_allclose(
        float(SquaredErrorCost(scale=1.0)(x, x_hat)), 2 * expected, rtol=1e-5
    )


def test_cost_is_features_over_two_times_keras_mse():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(4, 784)).astype("float32")
    x_hat = rng.uniform(size=(4, 784)).astype("float32")
    mse = float(keras.losses.MeanSquaredError()(x, x_hat))
    np.testing.assert_allclose(
        float(SquaredErrorCost()(x, x_hat)), 392 * mse, rtol=1e-5
    )


@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), float("inf")])
def test_refuses_a_scale_that_is_not_positive_and_finite(scale):
    with pytest.raises(ValueError, match="scale"):
        SquaredErrorCost(scale=scale)


def test_refuses_a_scale_that_is_not_a_number():
    with pytest.raises(TypeError, match="scale"):
        SquaredErrorCost(scale="0.5")


def test_config_round_trip():
    loss = SquaredErrorCost(scale=2.0, name="cost")
    restored = SquaredErrorCost.from_config(loss.get_config())
    assert restored.scale == 2.0 and restored.name == "cost"


def test_a_model_compiled_with_it_saves_and_loads(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    model.compile(optimizer="sgd", loss=SquaredErrorCost(scale=0.25))
    x = np.ones((2, 3), "float32")
    model.fit(x, x, epochs=1, verbose=0)
    loaded = check_keras_round_trip(model, x, tmp_path / "model.keras")
    assert isinstance(loaded.loss, SquaredErrorCost)
    assert loaded.loss.scale == 0.25
