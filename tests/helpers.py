"""A public-API `run_layer_test`, after keras-hub's `tests/test_case.py`.

`keras.src.testing` is private, so sparsekeras checks its layers the way
keras-hub does: config round trip, serialization, build and weight counts, a
symbolic call, an eager call, one `fit` step, `.keras` saving, and the mixed
precision policies, all through the public Keras API.
"""

import os

import keras
import numpy as np

from sparsekeras.testing.checks import _call_quietly


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    expected_num_trainable_weights=0,
    expected_num_non_trainable_weights=0,
    run_training_check=True,
    run_mixed_precision_check=True,
    tmp_path=None,
):
    """Runs every check a Keras layer is expected to pass.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        input_data: a numpy array with a batch dimension.
        expected_output_shape: the full output shape for `input_data`.
        expected_num_trainable_weights: trainable weights after build.
        expected_num_non_trainable_weights: non-trainable weights after build.
        run_training_check: whether to fit one step of `Input -> layer`.
        run_mixed_precision_check: whether to call the layer under the
            `mixed_float16` and `mixed_bfloat16` policies.
        tmp_path: a folder for the `.keras` round trip; skipped when None.
    """
    _check_config_round_trip(layer_cls, init_kwargs)
    _check_serialization_round_trip(layer_cls, init_kwargs)

    layer = layer_cls(**init_kwargs)
    layer.build(input_data.shape)
    assert len(layer.trainable_weights) == expected_num_trainable_weights
    assert (
        len(layer.non_trainable_weights) == expected_num_non_trainable_weights
    )

    symbolic = keras.KerasTensor((None,) + tuple(input_data.shape[1:]))
    symbolic_output = layer_cls(**init_kwargs)(symbolic)
    assert tuple(symbolic_output.shape[1:]) == tuple(expected_output_shape[1:])

    output = keras.ops.convert_to_numpy(layer(input_data))
    assert output.shape == tuple(expected_output_shape)
    assert np.all(np.isfinite(output))

    if run_training_check:
        _check_fit_step(layer_cls, init_kwargs, input_data)
    if tmp_path is not None:
        check_keras_round_trip(
            _model_around(layer_cls(**init_kwargs), input_data.shape),
            input_data,
            os.path.join(tmp_path, "layer_test.keras"),
        )
    if run_mixed_precision_check:
        for policy in ("mixed_float16", "mixed_bfloat16"):
            mixed = layer_cls(**init_kwargs, dtype=policy)
            out = keras.ops.convert_to_numpy(
                keras.ops.cast(mixed(input_data, training=True), "float32")
            )
            assert np.all(np.isfinite(out)), policy


def check_keras_round_trip(model, input_data, path):
    """Saves `model` to `path`, loads it in safe mode, compares everything.

    Returns the loaded model.
    """
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(input_data)),
        keras.ops.convert_to_numpy(call_loaded(loaded, input_data)),
        rtol=1e-6,
        atol=1e-6,
    )
    assert len(model.weights) == len(loaded.weights)
    for saved, restored in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(saved),
            keras.ops.convert_to_numpy(restored),
            err_msg=saved.path,
        )
    return loaded


def call_loaded(model, input_data):
    """Calls a model loaded from a `.keras` file on `input_data`.

    Keras 3.10 restores a one-input functional model as taking a list of
    one input, and warns when it is called with the tensor itself.
    """
    return _call_quietly(model, input_data)


def _check_config_round_trip(layer_cls, init_kwargs):
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for name, value in init_kwargs.items():
        assert config[name] == value, name
    revived = layer_cls.from_config(config)
    assert revived.get_config() == config


def _check_serialization_round_trip(layer_cls, init_kwargs):
    layer = layer_cls(**init_kwargs)
    serialized = keras.saving.serialize_keras_object(layer)
    with keras.saving.custom_object_scope({}):
        revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is layer_cls
    assert revived.get_config() == layer.get_config()


def _model_around(layer, input_shape):
    inputs = keras.Input(shape=tuple(input_shape[1:]))
    return keras.Model(inputs, layer(inputs))


def _check_fit_step(layer_cls, init_kwargs, input_data):
    # A Dense layer in front gives the model trainable weights, so the step
    # exercises a gradient through the layer even when it has none itself.
    inputs = keras.Input(shape=tuple(input_data.shape[1:]))
    features = keras.layers.Dense(input_data.shape[-1])(inputs)
    model = keras.Model(inputs, layer_cls(**init_kwargs)(features))
    target = keras.ops.convert_to_numpy(model(input_data))
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(
        input_data, target, batch_size=len(input_data), epochs=1, verbose=0
    )
    assert np.isfinite(history.history["loss"][0])


def assert_resumes_exactly(fresh, x, path, fit_kwargs, check_loaded=None):
    """Two epochs straight equal one, `.keras` save and load, and one more.

    `fresh()` returns a new compiled model, the same each call; every
    weight and optimizer variable of the resumed model must equal the
    straight one's to 1e-6. `check_loaded(model)`, if given, runs on the
    loaded model before its epoch.

    Returns:
        the resumed model, for checks of its own.
    """
    straight = fresh()
    straight.fit(x, epochs=2, **fit_kwargs)
    first = fresh()
    first.fit(x, epochs=1, **fit_kwargs)
    first.save(path)
    resumed = keras.models.load_model(path, safe_mode=True)
    assert resumed.get_config() == first.get_config()
    if check_loaded is not None:
        check_loaded(resumed)
    resumed.fit(x, epochs=1, **fit_kwargs)
    variables = straight.weights + straight.optimizer.variables
    restored = resumed.weights + resumed.optimizer.variables
    for a, b in zip(variables, restored, strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(b),
            keras.ops.convert_to_numpy(a),
            1e-6,
            1e-6,
            a.path,
        )
    return resumed
