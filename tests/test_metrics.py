import keras
import numpy as np
import pytest
from keras import ops

from sparsekeras.metrics import FVU, L0, DeadFraction


def _result(metric):
    return float(ops.convert_to_numpy(metric.result()))


def test_fvu_is_error_over_variance_of_every_row_seen():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 3))
    x_hat = x + rng.normal(scale=0.3, size=x.shape)
    metric = FVU()
    metric.update_state(x[:4], x_hat[:4])
    metric.update_state(x[4:], x_hat[4:])
    expected = np.sum((x - x_hat) ** 2) / np.sum((x - x.mean(0)) ** 2)
    assert _result(metric) == pytest.approx(expected, rel=1e-5)
    metric.reset_state()
    assert _result(metric) == 0.0


def test_fvu_is_one_for_predicting_the_mean():
    x = np.random.default_rng(1).normal(size=(8, 4))
    metric = FVU()
    metric.update_state(x, np.broadcast_to(x.mean(0), x.shape))
    assert _result(metric) == pytest.approx(1.0, rel=1e-5)


def test_l0_counts_nonzeros_per_row_nan_included():
    metric = L0()
    metric.update_state(None, np.array([[0.0, np.nan, 1.0], [0.0, 0.0, 0.0]]))
    assert _result(metric) == 1.0


def test_dead_fraction_counts_units_that_never_fired_since_reset():
    metric = DeadFraction()
    metric.update_state(None, np.array([[0.0, 1.0, 0.0, 0.0]]))
    metric.update_state(None, np.array([[0.0, 0.0, -2.0, 0.0]]))
    assert _result(metric) == 0.5
    metric.reset_state()
    metric.update_state(None, np.array([[1.0, 1.0, 1.0, 0.0]]))
    assert _result(metric) == 0.25


def test_metrics_serve_in_compile_for_any_model():
    x = np.random.default_rng(2).normal(size=(32, 4)).astype("float32")
    inputs = keras.Input((4,))
    model = keras.Model(
        inputs, keras.layers.Dense(4, activation="relu")(inputs)
    )
    model.compile(
        optimizer="sgd", loss="mse", metrics=[FVU(), L0(), DeadFraction()]
    )
    history = model.fit(x, x, batch_size=8, epochs=1, verbose=0)
    assert {"fvu", "l0", "dead_fraction"} <= set(history.history)
    logs = model.evaluate(x, x, verbose=0, return_dict=True)
    predicted = model.predict(x, verbose=0)
    fvu = np.sum((x - predicted) ** 2) / np.sum((x - x.mean(0)) ** 2)
    assert logs["fvu"] == pytest.approx(fvu, rel=1e-4)
    l0 = np.mean(np.count_nonzero(predicted, axis=1))
    assert logs["l0"] == pytest.approx(l0, rel=1e-5)
    dead = np.mean(np.all(predicted == 0, axis=0))
    assert logs["dead_fraction"] == pytest.approx(dead)


def test_metric_configs_round_trip():
    for metric in (FVU(name="a"), L0(name="b"), DeadFraction(name="c")):
        revived = type(metric).from_config(metric.get_config())
        assert revived.name == metric.name


def _offset_data(offset, std, rows=4096, seed=3):
    x = offset + std * np.random.default_rng(seed).normal(size=(rows, 8))
    return x.astype("float32")


@pytest.mark.parametrize("std", [1.0, 0.01])
def test_fvu_of_the_mean_is_one_for_data_far_from_zero(std):
    x = _offset_data(1000.0, std)
    mean = np.broadcast_to(x.astype("float64").mean(0), x.shape)
    metric = FVU()
    for batch in np.split(np.arange(len(x)), 16):
        metric.update_state(x[batch], mean[batch])
    assert _result(metric) == pytest.approx(1.0, abs=1e-3)


def test_fvu_without_variance_is_undefined_never_zero():
    metric = FVU()
    metric.update_state(np.ones((1, 3)), np.zeros((1, 3)))
    assert _result(metric) == np.inf
    metric.reset_state()
    metric.update_state(np.ones((4, 3)), np.ones((4, 3)))
    assert np.isnan(_result(metric))


def test_sparsekeras_metrics_are_the_keras_metrics_for_compile():
    import sparsekeras as sk

    assert set(sk.metrics.__all__) == {"FVU", "L0", "DeadFraction"}
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    model.compile(optimizer="sgd", loss="mse", metrics=[sk.metrics.FVU()])
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    logs = model.evaluate(x, x, verbose=0, return_dict=True)
    assert np.isfinite(logs["fvu"])
