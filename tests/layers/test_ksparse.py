import os

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

from sparsekeras._activity import KERAS_DIVIDES_ACTIVITY_LOSSES
from sparsekeras.layers import KSparse, SparseDense
from sparsekeras.regularizers import KLSparsityRegularizer, WeightDecay
from sparsekeras.testing import (
    assert_keeps_top_k,
    check_top_k_layer,
    gradient_of_sum,
    strategies,
)

from helpers import check_keras_round_trip, run_layer_test

BACKEND = keras.backend.backend()


def _train(layer, x):
    return ops.convert_to_numpy(layer(x, training=True))


def _schedule(k, k_start, anneal_steps, t):
    return round(k_start + (k - k_start) * min(t, anneal_steps) / anneal_steps)


@st.composite
def rows_and_k(draw, min_value=None, nonzero=False):
    """`(x, k)`: a batch of hard rows, `1 <= k <= x.shape[-1]`."""
    size, k = draw(strategies.sizes_and_k(max_size=8))
    x = draw(
        strategies.activations(
            batch_sizes=(1, 2, 4), widths=size, min_value=min_value
        )
    )
    if nonzero:
        x[x == 0] = 1
    return x, k


@pytest.mark.parametrize(
    "init_kwargs",
    [
        {"k": 2},
        {"k": 2, "alpha": 1.5, "k_start": 4, "anneal_steps": 3},
    ],
)
# KSparse has no trainable weights, so the one-step `fit` of run_layer_test
# warns that there is nothing to train.
@pytest.mark.filterwarnings("ignore:The model does not have any trainable")
def test_passes_run_layer_test(init_kwargs, tmp_path):
    run_layer_test(
        KSparse,
        init_kwargs,
        np.random.default_rng(0).normal(size=(4, 6)).astype("float32"),
        expected_output_shape=(4, 6),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=1,
        tmp_path=tmp_path,
    )


def test_passes_check_top_k_layer():
    check_top_k_layer(lambda: KSparse(3), k=3, input_dim=7, max_examples=8)


@settings(max_examples=20, deadline=None)
@given(rows_and_k())
def test_keeps_the_top_k_of_every_row(data):
    x, k = data
    assert_keeps_top_k(x, _train(KSparse(k), x), k)


def test_keeps_exactly_k_of_all_equal_rows_lowest_indices_first():
    y = _train(KSparse(3), np.full((2, 7), 2.0, dtype="float32"))
    np.testing.assert_array_equal(y, [[2, 2, 2, 0, 0, 0, 0]] * 2)


@settings(max_examples=20, deadline=None)
@given(rows_and_k(nonzero=True))
def test_ties_at_the_threshold_keep_lower_indices_first(data):
    x, k = data
    y = _train(KSparse(k), x)
    threshold = -np.sort(-x, axis=-1)[:, k - 1 : k]
    tied = x == threshold
    kept_ties = (y != 0) & tied
    for row_tied, row_kept in zip(tied, kept_ties, strict=True):
        ties = np.flatnonzero(row_tied)
        n_kept = row_kept.sum()
        np.testing.assert_array_equal(np.flatnonzero(row_kept), ties[:n_kept])


def _values(outputs):
    """The dense output, or the values of a `(values, indices)` pair."""
    return outputs[0] if isinstance(outputs, tuple) else outputs


def _gradient_of_sum(layer, x):
    """d sum(values of layer(x, training=True)) / dx."""
    return gradient_of_sum(lambda x: _values(layer(x)), x)


@settings(max_examples=8, deadline=None)
@given(rows_and_k(nonzero=True))
def test_gradient_is_one_on_kept_entries_and_zero_elsewhere(data):
    x, k = data
    kept = _train(KSparse(k), x) != 0
    np.testing.assert_array_equal(
        _gradient_of_sum(KSparse(k), x), kept.astype("float32")
    )


@pytest.mark.parametrize(
    "k, alpha, size, expected",
    [
        (2, 1.0, 6, 2),
        (2, 1.5, 6, 3),
        (3, 1.5, 6, 4),  # 4.5 rounds half to even
        (2, 1.25, 9, 2),  # 2.5 rounds half to even
        (3, 1.2, 10, 4),
        (5, 1.5, 10, 8),  # 7.5 rounds half to even
        (3, 2.5, 6, 6),  # round(7.5) = 8, capped at the size
        (2, 10, 5, 5),
    ],
)
@pytest.mark.parametrize("training", [False, None])
def test_inference_keeps_min_of_round_alpha_k_and_size(
    k, alpha, size, expected, training
):
    x = np.random.default_rng(1).uniform(1, 2, size=(3, size))
    layer = KSparse(k, alpha=alpha)
    y = ops.convert_to_numpy(layer(x.astype("float32"), training=training))
    np.testing.assert_array_equal(np.count_nonzero(y, axis=-1), expected)
    assert int(ops.convert_to_numpy(layer.step)) == 0


def test_dropped_infinities_become_zero():
    x = np.array([[-np.inf, 1, 2, np.inf], [-np.inf, 3, -np.inf, 0]])
    y = _train(KSparse(2), x.astype("float32"))
    np.testing.assert_array_equal(y, [[0, 0, 2, np.inf], [0, 3, 0, 0]])


def test_keeps_top_k_along_the_channels_of_a_rank_4_input():
    x = np.random.default_rng(2).permutation(2 * 3 * 3 * 5)
    x = x.reshape(2, 3, 3, 5).astype("float32") + 1
    y = _train(KSparse(2), x)
    expected = np.where(x >= -np.sort(-x, axis=-1)[..., 1:2], x, 0)
    np.testing.assert_array_equal(y, expected)


def test_anneals_k_linearly_from_k_start_to_k_in_training_calls():
    x = np.random.default_rng(3).uniform(1, 2, size=(2, 8))
    x = x.astype("float32")
    layer = KSparse(2, k_start=8, anneal_steps=4)
    counts = [np.count_nonzero(_train(layer, x), axis=-1) for _ in range(7)]
    expected = [8, 6, 5, 4, 2, 2, 2]  # 6.5 and 3.5 round half to even
    assert expected == [_schedule(2, 8, 4, t) for t in range(7)]
    np.testing.assert_array_equal(counts, np.repeat([expected], 2, 0).T)


def test_step_counts_training_calls_only():
    x = np.ones((2, 4), dtype="float32")
    layer = KSparse(1, k_start=4, anneal_steps=2)
    layer(x)
    layer(x, training=False)
    assert int(ops.convert_to_numpy(layer.step)) == 0
    _train(layer, x)
    _train(layer, x)
    layer(x)
    assert int(ops.convert_to_numpy(layer.step)) == 2
    np.testing.assert_array_equal(np.count_nonzero(_train(layer, x), -1), 1)


def test_zero_anneal_steps_uses_k_from_the_start():
    x = np.ones((2, 6), dtype="float32")
    layer = KSparse(2, k_start=5, anneal_steps=0)
    np.testing.assert_array_equal(np.count_nonzero(_train(layer, x), -1), 2)


def test_step_is_a_non_trainable_integer_weight_of_every_layer():
    for layer in (KSparse(2), KSparse(2, k_start=3, anneal_steps=4)):
        layer.build((None, 4))
        assert [w.name for w in layer.weights] == ["step"]
        assert not layer.step.trainable
        assert keras.backend.is_int_dtype(layer.step.dtype)


class _CallCountingKSparse(KSparse):
    """Counts Python executions of `call`: once per trace when compiled."""

    calls = 0

    def call(self, inputs, training=None):
        _CallCountingKSparse.calls += 1
        return super().call(inputs, training=training)


def nonzeros_per_row(y_true, y_pred):
    return ops.mean(ops.sum(ops.cast(y_pred != 0, "float32"), axis=-1))


def _annealing_model(layer, size, metrics=()):
    """A one-layer k-sparse encoder, with weights for `fit` to train."""
    inputs = keras.Input(shape=(size,))
    codes = keras.layers.Dense(size, kernel_initializer="identity")(inputs)
    model = keras.Model(inputs, layer(codes))
    model.compile(optimizer="sgd", loss="mse", metrics=list(metrics))
    return model


def _fit_one_step_per_epoch(model, x, epochs):
    return model.fit(
        x, np.zeros_like(x), batch_size=len(x), epochs=epochs, verbose=0
    )


def test_fit_follows_the_schedule_without_retracing():
    x = np.random.default_rng(4).uniform(1, 2, size=(4, 10))
    x = x.astype("float32")
    layer = _CallCountingKSparse(1, k_start=10, anneal_steps=6)
    model = _annealing_model(layer, 10, metrics=[nonzeros_per_row])
    _CallCountingKSparse.calls = 0
    history = _fit_one_step_per_epoch(model, x, epochs=9)
    assert history.history["nonzeros_per_row"] == [
        _schedule(1, 10, 6, t) for t in range(9)
    ]
    assert int(ops.convert_to_numpy(layer.step)) == 9
    if BACKEND in ("tensorflow", "jax"):
        assert _CallCountingKSparse.calls <= 2


def test_resumed_training_continues_the_schedule(tmp_path):
    x = np.random.default_rng(5).uniform(1, 2, size=(3, 8))
    x = x.astype("float32")
    model = _annealing_model(KSparse(2, k_start=8, anneal_steps=5), 8)
    _fit_one_step_per_epoch(model, x, epochs=3)
    loaded = check_keras_round_trip(model, x, os.path.join(tmp_path, "m.keras"))
    layer = loaded.layers[-1]
    assert isinstance(layer, KSparse)
    assert int(ops.convert_to_numpy(layer.step)) == 3
    np.testing.assert_array_equal(
        np.count_nonzero(_train(layer, x), axis=-1), _schedule(2, 8, 5, 3)
    )
    assert int(ops.convert_to_numpy(layer.step)) == 4


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize(
    "init_kwargs, expected_k",
    [({"k": 3}, 3), ({"k": 2, "k_start": 5, "anneal_steps": 4}, 5)],
)
def test_keeps_exactly_k_under_mixed_precision(policy, init_kwargs, expected_k):
    x = np.random.default_rng(6).integers(1, 4, size=(5, 6))
    layer = KSparse(**init_kwargs, dtype=policy)
    y = layer(x.astype("float32"), training=True)
    assert keras.backend.standardize_dtype(y.dtype) == policy[len("mixed_") :]
    y = ops.convert_to_numpy(ops.cast(y, "float32"))
    assert np.all(np.isfinite(y))
    np.testing.assert_array_equal(np.count_nonzero(y, axis=-1), expected_k)


def test_casts_integer_inputs_to_the_compute_dtype():
    y = KSparse(1)(np.array([[3, 1, 2]], dtype="int32"), training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    np.testing.assert_array_equal(ops.convert_to_numpy(y), [[3, 0, 0]])


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"k": 0}, ValueError, "k"),
        ({"k": -2}, ValueError, "k"),
        ({"k": 2.0}, TypeError, "k"),
        ({"k": True}, TypeError, "k"),
        ({"k": None}, TypeError, "k"),
        ({"k": 2, "alpha": 0.5}, ValueError, "alpha"),
        ({"k": 2, "alpha": float("inf")}, ValueError, "alpha"),
        ({"k": 2, "alpha": "2"}, TypeError, "alpha"),
        ({"k": 3, "k_start": 2}, ValueError, "k_start"),
        ({"k": 3, "k_start": 4.0}, TypeError, "k_start"),
        (
            {"k": 3, "k_start": 4, "anneal_steps": -1},
            ValueError,
            "anneal_steps",
        ),
        (
            {"k": 3, "k_start": 4, "anneal_steps": 2.5},
            TypeError,
            "anneal_steps",
        ),
        ({"k": 3, "anneal_steps": 5}, ValueError, "anneal_steps"),
        ({"k": 3, "return_indices": 1}, TypeError, "return_indices"),
        ({"k": 3, "return_indices": None}, TypeError, "return_indices"),
    ],
)
def test_rejects_invalid_arguments_naming_them(kwargs, error, name):
    with pytest.raises(error, match=f"`{name}`") as info:
        KSparse(**kwargs)
    assert f"{name}={kwargs[name]!r}" in str(info.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"k": 30},
            r"`k`=30 is larger than the last axis of the input \(20\)",
        ),
        (
            {"k": 3, "k_start": 21, "anneal_steps": 2},
            r"`k_start`=21 is larger than the last axis of the input \(20\)",
        ),
    ],
)
def test_build_rejects_k_larger_than_the_last_axis(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KSparse(**kwargs).build((None, 20))


@pytest.mark.parametrize("input_shape", [(20,), (None, None)])
def test_build_rejects_inputs_without_a_defined_last_axis_of_rows(input_shape):
    with pytest.raises(ValueError, match="input_shape="):
        KSparse(2).build(input_shape)


def test_get_config_returns_exactly_the_constructor_arguments():
    config = KSparse(
        2, alpha=1.5, k_start=4, anneal_steps=7, return_indices=True
    ).get_config()
    base = keras.layers.Layer().get_config()
    assert set(config) - set(base) == {
        "k",
        "alpha",
        "k_start",
        "anneal_steps",
        "return_indices",
    }
    assert (config["k"], config["alpha"]) == (2, 1.5)
    assert (config["k_start"], config["anneal_steps"]) == (4, 7)
    assert config["return_indices"] is True
    assert KSparse(2).get_config()["return_indices"] is False


def test_compute_output_shape_returns_the_input_shape():
    shape = (None, 4, 4, 8)
    assert KSparse(2).compute_output_shape(shape) == shape


def test_passes_the_input_mask_through():
    mask = np.array([[True, False]])
    assert KSparse(1).compute_mask(np.ones((1, 2, 3)), mask) is mask


def test_is_registered_under_the_sparsekeras_package():
    assert keras.saving.get_registered_name(KSparse) == "sparsekeras>KSparse"
    assert keras.saving.get_registered_object("sparsekeras>KSparse") is KSparse


# Sparse outputs: `return_indices=True`.


def _pair(layer, x, training=True):
    values, indices = layer(x, training=training)
    return ops.convert_to_numpy(values), ops.convert_to_numpy(indices)


def _scatter(values, indices, size):
    """The dense rows that `(values, indices)` stand for."""
    dense = np.zeros(values.shape[:-1] + (size,), dtype=values.dtype)
    np.put_along_axis(dense, indices, values, axis=-1)
    return dense


@settings(max_examples=20, deadline=None)
@given(rows_and_k(nonzero=False), st.sampled_from([1.0, 1.5, 3.0]))
def test_indices_scatter_values_to_the_dense_output(data, alpha):
    x, k = data
    for training in (True, False):
        values, indices = _pair(
            KSparse(k, alpha=alpha, return_indices=True), x, training
        )
        dense = ops.convert_to_numpy(
            KSparse(k, alpha=alpha)(x, training=training)
        )
        np.testing.assert_array_equal(
            _scatter(values, indices, x.shape[-1]), dense
        )


def _largest_first(x, width):
    """Indices of the `width` largest of each row, NaN first, ties by index."""
    ranked = np.where(np.isnan(x), np.inf, x)
    return np.argsort(-ranked, axis=-1, kind="stable")[:, :width]


@settings(max_examples=20, deadline=None)
@given(rows_and_k(nonzero=False))
def test_indices_are_the_k_largest_largest_first_ties_by_index(data):
    x, k = data
    _, indices = _pair(KSparse(k, return_indices=True), x)
    np.testing.assert_array_equal(indices, _largest_first(x, k))


@settings(max_examples=20, deadline=None)
@given(rows_and_k(nonzero=True), st.sampled_from([1.5, 2.0, 4.0]))
def test_extra_width_holds_the_next_largest_with_value_zero(data, alpha):
    x, k = data
    values, indices = _pair(KSparse(k, alpha=alpha, return_indices=True), x)
    width = min(round(alpha * k), x.shape[-1])
    assert values.shape == indices.shape == (len(x), width)
    np.testing.assert_array_equal(
        values[:, :k], np.take_along_axis(x, indices[:, :k], -1)
    )
    np.testing.assert_array_equal(values[:, k:], 0)
    np.testing.assert_array_equal(indices, _largest_first(x, width))


def test_signed_zeros_tie_as_in_the_dense_output():
    x = np.array([[-0.0, 0.0, -0.0, 1.0, -1.0]], dtype="float32")
    _, indices = _pair(KSparse(3, return_indices=True), x)
    np.testing.assert_array_equal(indices, [[3, 0, 1]])
    np.testing.assert_array_equal(
        _gradient_of_sum(KSparse(3, return_indices=True), x),
        _gradient_of_sum(KSparse(3), x),
    )


@pytest.mark.parametrize("jit_compile", [True, False])
def test_compiled_model_returns_the_same_indices(jit_compile):
    if jit_compile and BACKEND == "torch":
        pytest.skip("jit_compile means torch.compile on the torch backend")
    rng = np.random.default_rng(10)
    x = rng.integers(-1, 2, size=(6, 9)).astype("float32")
    x[0, ::2] = -0.0
    x[1, 3] = np.nan
    inputs = keras.Input((9,))
    layer = KSparse(3, alpha=1.5, return_indices=True)
    model = keras.Model(inputs, layer(inputs))
    model.compile(jit_compile=jit_compile)
    values, indices = model.predict(x, verbose=0)
    np.testing.assert_array_equal(indices, _largest_first(x, 4))
    np.testing.assert_array_equal(
        _scatter(values, indices, 9), _train(KSparse(4), x)
    )


def test_nan_is_returned_at_its_own_index():
    x = np.array([[1, np.nan, 3, 2], [np.nan, np.nan, np.nan, 0]])
    values, indices = _pair(KSparse(2, return_indices=True), x.astype("f4"))
    np.testing.assert_array_equal(indices, [[1, 2], [0, 1]])
    np.testing.assert_array_equal(values, [[np.nan, 3], [np.nan, np.nan]])


@pytest.mark.parametrize(
    "kwargs, size, expected_width",
    [
        ({"k": 3}, 10, 3),
        ({"k": 3, "alpha": 2.0}, 10, 6),
        ({"k": 3, "alpha": 2.0}, 5, 5),  # round(alpha * k) capped at size
        ({"k": 3, "k_start": 8, "anneal_steps": 4}, 10, 8),
        ({"k": 3, "k_start": 5, "anneal_steps": 4, "alpha": 3.0}, 10, 9),
        ({"k": 3, "k_start": 8, "anneal_steps": 0}, 10, 3),  # no annealing
    ],
)
def test_width_is_the_largest_k_of_training_and_inference(
    kwargs, size, expected_width
):
    layer = KSparse(**kwargs, return_indices=True)
    expected = ((None, expected_width), (None, expected_width))
    assert layer.compute_output_shape((None, size)) == expected
    x = np.random.default_rng(7).uniform(1, 2, size=(2, size))
    for training in (True, False):
        values, indices = _pair(layer, x.astype("float32"), training)
        assert values.shape == indices.shape == (2, expected_width)


def test_annealing_keeps_the_width_and_zeroes_what_k_t_drops():
    x = np.random.default_rng(8).uniform(1, 2, size=(2, 8))
    x = x.astype("float32")
    layer = KSparse(2, k_start=8, anneal_steps=4, return_indices=True)
    dense = KSparse(2, k_start=8, anneal_steps=4)
    for t in range(6):
        values, indices = _pair(layer, x)
        assert values.shape == (2, 8)
        np.testing.assert_array_equal(
            np.count_nonzero(values, axis=-1), _schedule(2, 8, 4, t)
        )
        np.testing.assert_array_equal(
            _scatter(values, indices, 8), _train(dense, x)
        )


def test_symbolic_outputs_are_compute_dtype_values_and_int32_indices():
    inputs = keras.Input((4, 6))
    values, indices = KSparse(2, alpha=1.5, return_indices=True)(inputs)
    assert values.shape == indices.shape == (None, 4, 3)
    assert values.dtype == "float32"
    assert indices.dtype == "int32"


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_returns_compute_dtype_values_under_mixed_precision(policy):
    x = np.random.default_rng(9).integers(1, 4, size=(5, 6))
    layer = KSparse(3, dtype=policy, return_indices=True)
    values, indices = layer(x.astype("float32"), training=True)
    assert keras.backend.standardize_dtype(values.dtype) == policy[6:]
    assert keras.backend.standardize_dtype(indices.dtype) == "int32"
    dense = _train(KSparse(3, dtype=policy), x.astype("float32"))
    np.testing.assert_array_equal(
        _scatter(
            ops.convert_to_numpy(ops.cast(values, "float32")),
            ops.convert_to_numpy(indices),
            6,
        ),
        dense.astype("float32"),
    )


@settings(max_examples=8, deadline=None)
@given(rows_and_k(nonzero=False))
def test_gradient_flows_to_the_values_of_the_entries_kept(data):
    x, k = data
    np.testing.assert_array_equal(
        _gradient_of_sum(KSparse(k, return_indices=True), x),
        _gradient_of_sum(KSparse(k), x),
    )


def test_passes_the_input_mask_to_values_and_indices():
    mask = np.array([[True, False]])
    layer = KSparse(1, return_indices=True)
    values_mask, indices_mask = layer.compute_mask(np.ones((1, 2, 3)), mask)
    assert values_mask is mask and indices_mask is mask


@pytest.mark.parametrize("width", [16, 48])
def test_refuses_an_input_of_another_width_once_built(width):
    x = np.random.default_rng(0).standard_normal((4, 64)).astype("float32")
    layer = KSparse(10, alpha=3.0)
    layer(x[:, :32])
    with pytest.raises(ValueError, match="expected axis -1 .* value 32"):
        layer(x[:, :width])
    assert (
        ops.convert_to_numpy(layer(x[:, :32]) != 0).sum(axis=1).tolist()
        == [30] * 4
    )


def test_shared_layer_advances_step_once_per_call():
    first, second = keras.Input((6,)), keras.Input((6,))
    shared = KSparse(2, k_start=4, anneal_steps=10)
    dense = keras.layers.Dense(6)
    model = keras.Model(
        [first, second], [shared(dense(first)), shared(dense(second))]
    )
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((3, 6), "float32")

    model.fit([x, x], [x, x], batch_size=3, epochs=2, verbose=0)

    # Two calls in each of two training steps.
    assert int(ops.convert_to_numpy(shared.step)) == 4


def _one_loss(layer):
    (loss,) = layer.losses
    return float(ops.convert_to_numpy(loss))


@pytest.mark.parametrize(
    "regularizer",
    [WeightDecay(1.0), KLSparsityRegularizer(rho=0.2, beta=1.0)],
    ids=["weight_decay", "kl_sparsity"],
)
def test_activity_regularizer_penalises_the_values_only(regularizer):
    x = np.random.default_rng(1).uniform(0, 1, (5, 8)).astype("float32")
    layer = KSparse(
        2, alpha=2.0, return_indices=True, activity_regularizer=regularizer
    )

    values, _ = layer(x, training=True)

    # Keras 3.14 and later divide an activity loss by the batch size.
    expected = regularizer(values) / (5 if KERAS_DIVIDES_ACTIVITY_LOSSES else 1)
    np.testing.assert_allclose(_one_loss(layer), expected, rtol=1e-6)
    assert layer.activity_regularizer is regularizer


def test_activity_regularizer_on_indices_matches_the_dense_output():
    x = np.random.default_rng(2).standard_normal((5, 8)).astype("float32")
    dense = KSparse(2, activity_regularizer=WeightDecay(1.0))
    pair = KSparse(
        2, return_indices=True, activity_regularizer=WeightDecay(1.0)
    )

    dense(x)
    pair(x)

    np.testing.assert_allclose(_one_loss(pair), _one_loss(dense), rtol=1e-6)


def test_training_loss_regularizes_the_values_only(tmp_path):
    inputs = keras.Input((8,))
    sparse = KSparse(
        2, return_indices=True, activity_regularizer=WeightDecay(0.5)
    )
    values, indices = sparse(keras.layers.Dense(8)(inputs))
    outputs = SparseDense(8, input_dim=8)((values, indices))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(3).standard_normal((4, 8)).astype("float32")
    encoder = keras.Model(inputs, values)
    values = ops.convert_to_numpy(encoder(x, training=True))
    penalty = 0.25 * np.sum(values**2)
    if KERAS_DIVIDES_ACTIVITY_LOSSES:
        penalty /= 4
    mse = np.mean((ops.convert_to_numpy(model(x, training=True)) - x) ** 2)

    history = model.fit(x, x, batch_size=4, epochs=1, verbose=0)

    np.testing.assert_allclose(
        history.history["loss"][0], mse + penalty, rtol=1e-5
    )
    check_keras_round_trip(model, x, os.path.join(tmp_path, "m.keras"))


PADDED = np.array(
    [[[0.1, 0.9, 0.4], [9.0, 9.0, 9.0], [0.5, 0.3, 0.2]]], "float32"
)
STEPS = np.array([[True, False, True]])


@pytest.mark.parametrize("training", [True, False])
def test_masked_rows_are_not_kept(training):
    out = KSparse(1)(PADDED, training=training, mask=STEPS)
    expected = np.zeros_like(PADDED)
    expected[0, 0, 1], expected[0, 2, 0] = PADDED[0, 0, 1], PADDED[0, 2, 0]
    np.testing.assert_array_equal(ops.convert_to_numpy(out), expected)


def test_masked_rows_give_zero_values_with_indices():
    values, _ = KSparse(1, return_indices=True)(
        PADDED, training=True, mask=STEPS
    )
    expected = np.array([[[0.9], [0.0], [0.5]]], "float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(values), expected)


def test_passes_the_mask_on_to_the_next_layer():
    inputs = keras.Input((3, 3))
    masked = keras.layers.Masking(mask_value=9.0)(inputs)
    pooled = keras.layers.GlobalAveragePooling1D()(KSparse(3)(masked))
    out = ops.convert_to_numpy(keras.Model(inputs, pooled)(PADDED))
    np.testing.assert_allclose(out[0], PADDED[0, [0, 2]].mean(axis=0))
