import os

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops

from sparsekeras.layers import KSparse, SparseDense

from helpers import check_keras_round_trip


def _numpy(x):
    return ops.convert_to_numpy(x)


def _scatter_add(values, indices, input_dim):
    """The dense rows that `(values, indices)` stand for, repeats added."""
    dense = np.zeros(values.shape[:-1] + (input_dim,), dtype=values.dtype)
    rows = np.indices(values.shape)[:-1]
    np.add.at(dense, (*rows, indices), values)
    return dense


def _dense_twin(layer):
    """A built `Dense` with the weights and settings of a built `layer`."""
    dense = keras.layers.Dense(
        layer.units, activation=layer.activation, use_bias=layer.use_bias
    )
    dense.build((None, layer.input_dim))
    dense.set_weights(layer.get_weights())
    return dense


@st.composite
def sparse_rows(draw):
    """Small `(values, indices)`, repeated indices included, and sizes."""
    batch = draw(st.integers(1, 3))
    width = draw(st.integers(1, 4))
    input_dim = draw(st.integers(1, 6))
    values = draw(
        hnp.arrays("float32", (batch, width), elements=st.integers(-3, 3))
    )
    indices = draw(
        hnp.arrays(
            "int32", (batch, width), elements=st.integers(0, input_dim - 1)
        )
    )
    return values, indices, input_dim, draw(st.integers(1, 5))


@settings(max_examples=20, deadline=None)
@given(sparse_rows(), st.sampled_from([None, "relu"]), st.booleans())
def test_equals_dense_on_the_scattered_rows(data, activation, use_bias):
    values, indices, input_dim, units = data
    layer = SparseDense(
        units,
        input_dim=input_dim,
        activation=activation,
        use_bias=use_bias,
        bias_initializer="random_normal",
    )
    outputs = _numpy(layer((values, indices)))
    expected = _dense_twin(layer)(_scatter_add(values, indices, input_dim))
    np.testing.assert_allclose(outputs, _numpy(expected), atol=1e-5)


def test_equals_dense_on_every_row_of_a_rank_3_input():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(2, 3, 4)).astype("float32")
    indices = rng.integers(0, 7, size=(2, 3, 4)).astype("int32")
    layer = SparseDense(5, input_dim=7)
    outputs = _numpy(layer((values, indices)))
    assert outputs.shape == (2, 3, 5)
    expected = _dense_twin(layer)(_scatter_add(values, indices, 7))
    np.testing.assert_allclose(outputs, _numpy(expected), atol=1e-5)


def test_builds_an_input_dim_by_units_kernel_and_a_bias():
    layer = SparseDense(3, input_dim=10)
    layer.build(((None, 4), (None, 4)))
    assert [w.name for w in layer.trainable_weights] == ["kernel", "bias"]
    assert tuple(layer.kernel.shape) == (10, 3)
    assert tuple(layer.bias.shape) == (3,)
    no_bias = SparseDense(3, input_dim=10, use_bias=False)
    no_bias.build(((None, 4), (None, 4)))
    assert [w.name for w in no_bias.weights] == ["kernel"]


def test_kernel_regularizer_adds_the_loss_dense_adds():
    values = np.ones((2, 3), dtype="float32")
    indices = np.array([[0, 1, 2], [3, 4, 5]], dtype="int32")
    layer = SparseDense(4, input_dim=6, kernel_regularizer="l2")
    layer((values, indices))
    dense = keras.layers.Dense(4, kernel_regularizer="l2")
    dense.build((None, 6))
    dense.set_weights(layer.get_weights())
    dense(_scatter_add(values, indices, 6))
    np.testing.assert_allclose(
        _numpy(layer.losses[0]), _numpy(dense.losses[0]), rtol=1e-6
    )


def _models(**ksparse_kwargs):
    """`Dense -> KSparse -> SparseDense` and its dense twin, same weights."""
    inputs = keras.Input((6,))
    codes = keras.layers.Dense(
        12, kernel_initializer=keras.initializers.RandomNormal(seed=1)
    )(inputs)
    sparse = KSparse(**ksparse_kwargs, return_indices=True)(codes)
    outputs = SparseDense(
        6,
        input_dim=12,
        kernel_initializer=keras.initializers.RandomNormal(seed=2),
        bias_initializer="random_normal",
    )(sparse)
    sparse_model = keras.Model(inputs, outputs)
    dense_model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(12),
            KSparse(**ksparse_kwargs),
            keras.layers.Dense(6),
        ]
    )
    dense_model.set_weights(sparse_model.get_weights())
    for model in (sparse_model, dense_model):
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return sparse_model, dense_model


@pytest.mark.parametrize(
    "ksparse_kwargs",
    [{"k": 3}, {"k": 2, "alpha": 2.0, "k_start": 6, "anneal_steps": 3}],
)
def test_autoencoder_trains_as_its_dense_twin(ksparse_kwargs):
    x = np.random.default_rng(3).normal(size=(8, 6)).astype("float32")
    sparse_model, dense_model = _models(**ksparse_kwargs)
    histories = [
        model.fit(x, x, batch_size=8, epochs=5, verbose=0).history["loss"]
        for model in (sparse_model, dense_model)
    ]
    np.testing.assert_allclose(*histories, rtol=1e-5)
    assert histories[0][-1] < histories[0][0]
    for trained, twin in zip(
        sparse_model.weights, dense_model.weights, strict=True
    ):
        np.testing.assert_allclose(
            _numpy(trained), _numpy(twin), rtol=1e-5, atol=1e-6
        )
    np.testing.assert_allclose(
        sparse_model.predict(x, verbose=0),
        dense_model.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_autoencoder_survives_a_keras_round_trip(tmp_path):
    x = np.random.default_rng(4).normal(size=(4, 6)).astype("float32")
    sparse_model, _ = _models(k=2, alpha=1.5, k_start=4, anneal_steps=2)
    sparse_model.fit(x, x, batch_size=4, epochs=1, verbose=0)
    loaded = check_keras_round_trip(
        sparse_model, x, os.path.join(tmp_path, "m.keras")
    )
    ksparse = [layer for layer in loaded.layers if isinstance(layer, KSparse)]
    assert ksparse[0].return_indices is True
    assert isinstance(loaded.layers[-1], SparseDense)


def test_layer_with_two_inputs_survives_a_keras_round_trip(tmp_path):
    values = keras.Input((3,))
    indices = keras.Input((3,), dtype="int32")
    outputs = SparseDense(4, input_dim=5, activation="tanh")((values, indices))
    model = keras.Model([values, indices], outputs)
    data = [
        np.ones((2, 3), dtype="float32"),
        np.array([[0, 2, 4], [1, 1, 3]], dtype="int32"),
    ]
    check_keras_round_trip(model, data, os.path.join(tmp_path, "m.keras"))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_computes_in_the_compute_dtype_under_mixed_precision(policy):
    values = np.array([[0.5, -1.0], [2.0, 0.25]], dtype="float32")
    indices = np.array([[0, 3], [2, 1]], dtype="int32")
    layer = SparseDense(3, input_dim=4, dtype=policy)
    outputs = layer((values, indices))
    assert keras.backend.standardize_dtype(outputs.dtype) == policy[6:]
    assert keras.backend.standardize_dtype(layer.kernel.dtype) == "float32"
    expected = _dense_twin(layer)(_scatter_add(values, indices, 4))
    np.testing.assert_allclose(
        _numpy(ops.cast(outputs, "float32")), _numpy(expected), atol=0.05
    )


def test_symbolic_call_gives_the_output_shape():
    pair = KSparse(3, return_indices=True)(keras.Input((4, 10)))
    outputs = SparseDense(7, input_dim=10)(pair)
    assert outputs.shape == (None, 4, 7)
    assert SparseDense(7, input_dim=10).compute_output_shape(
        ((None, 4, 3), (None, 4, 3))
    ) == (None, 4, 7)


def test_passes_the_mask_of_values_through():
    mask = np.array([[True, False]])
    layer = SparseDense(2, input_dim=4)
    assert layer.compute_mask(None, (mask, mask)) is mask
    assert layer.compute_mask(None, None) is None


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"units": 0, "input_dim": 4}, ValueError, "units"),
        ({"units": 2.0, "input_dim": 4}, TypeError, "units"),
        ({"units": 2, "input_dim": 0}, ValueError, "input_dim"),
        ({"units": 2, "input_dim": None}, TypeError, "input_dim"),
        ({"units": 2, "input_dim": True}, TypeError, "input_dim"),
        ({"units": 2, "input_dim": 4, "use_bias": 1}, TypeError, "use_bias"),
    ],
)
def test_rejects_invalid_arguments_naming_them(kwargs, error, name):
    with pytest.raises(error, match=f"`{name}`") as info:
        SparseDense(**kwargs)
    assert f"{name}={kwargs[name]!r}" in str(info.value)


def test_requires_input_dim_as_a_keyword():
    with pytest.raises(TypeError, match="input_dim"):
        SparseDense(2)


@pytest.mark.parametrize(
    "input_shape, message",
    [
        ((None, 4), "expected a pair of tensors"),
        (((None, 4), (None, 4), (None, 4)), "expected a pair of tensors"),
        (((None, 4), (None, 3)), r"indices.shape=\(None, 3\)"),
        (((None, 4), (None, 4, 1)), r"indices.shape=\(None, 4, 1\)"),
        (((4,), (4,)), r"rank >= 2"),
    ],
)
def test_build_rejects_inputs_that_are_not_a_pair_of_equal_shapes(
    input_shape, message
):
    with pytest.raises(ValueError, match=message):
        SparseDense(2, input_dim=8).build(input_shape)


def test_rejects_indices_of_a_floating_dtype():
    values = np.ones((1, 2), dtype="float32")
    with pytest.raises(TypeError, match="indices.dtype=float32"):
        SparseDense(2, input_dim=4)((values, values))


def test_get_config_returns_exactly_the_constructor_arguments():
    layer = SparseDense(
        3,
        input_dim=9,
        activation="relu",
        use_bias=False,
        kernel_regularizer="l2",
    )
    config = layer.get_config()
    base = keras.layers.Layer().get_config()
    assert set(config) - set(base) == {
        "units",
        "input_dim",
        "activation",
        "use_bias",
        "kernel_initializer",
        "bias_initializer",
        "kernel_regularizer",
        "bias_regularizer",
        "kernel_constraint",
        "bias_constraint",
    }
    assert (config["units"], config["input_dim"]) == (3, 9)
    assert (config["activation"], config["use_bias"]) == ("relu", False)
    revived = SparseDense.from_config(config)
    assert revived.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert keras.saving.deserialize_keras_object(serialized).get_config() == (
        config
    )


def test_is_registered_under_the_sparsekeras_package():
    name = "sparsekeras>SparseDense"
    assert keras.saving.get_registered_name(SparseDense) == name
    assert keras.saving.get_registered_object(name) is SparseDense


@pytest.mark.parametrize(
    "dtype", ["int8", "uint8", "int16", "uint16", "int32", "int64"]
)
def test_takes_indices_of_every_integer_dtype(dtype):
    values = np.array([[0.5, -1.0], [2.0, 0.25]], "float32")
    indices = np.array([[1, 3], [0, 2]])
    layer = SparseDense(2, input_dim=4, kernel_initializer="glorot_uniform")
    expected = _numpy(layer((values, indices.astype("int32"))))

    outputs = _numpy(layer((values, indices.astype(dtype))))

    np.testing.assert_allclose(outputs, expected, rtol=1e-6)
