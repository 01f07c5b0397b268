import os
import warnings
import zipfile

import h5py
import keras
import numpy as np
import pytest
from keras import ops

from sparsekeras.layers import KSparse, SparseDense, TiedDense

from helpers import call_loaded


def _numpy(x):
    return ops.convert_to_numpy(x)


def _data(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _tied_autoencoder(input_dim=6, units=5, k=None, return_indices=False):
    inputs = keras.Input((input_dim,), name="pixels")
    encoder = keras.layers.Dense(units, name="encoder")
    codes = encoder(inputs)
    if k is not None:
        codes = KSparse(k=k, return_indices=return_indices)(codes)
    decoder = TiedDense(encoder, bias_initializer="random_normal", name="dec")
    return keras.Model(inputs, decoder(codes))


def test_decodes_with_the_transpose_of_the_encoders_kernel():
    encoder = keras.layers.Dense(5, bias_initializer="random_normal")
    encoder.build((None, 4))
    decoder = TiedDense(
        encoder, activation="sigmoid", bias_initializer="random_normal"
    )
    codes = _data((3, 5))
    kernel = _numpy(encoder.kernel)
    outputs = _numpy(decoder(codes))
    bias = _numpy(decoder.bias)
    expected = 1 / (1 + np.exp(-(codes @ kernel.T + bias)))
    assert outputs.shape == (3, 4)
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-6)


def test_decodes_every_row_of_a_rank_3_input_without_bias():
    encoder = keras.layers.Dense(5)
    encoder.build((None, 4))
    decoder = TiedDense(encoder, use_bias=False)
    codes = _data((2, 3, 5))
    outputs = _numpy(decoder(codes))
    np.testing.assert_allclose(
        outputs, codes @ _numpy(encoder.kernel).T, rtol=1e-5, atol=1e-6
    )
    assert decoder.bias is None
    assert decoder.trainable_weights == encoder.trainable_weights


def test_holds_the_encoders_kernel_variable_itself():
    model = _tied_autoencoder()
    encoder, decoder = model.get_layer("encoder"), model.get_layer("dec")
    assert decoder.kernel is encoder.kernel
    assert decoder._trainable_variables == [decoder.bias]
    ids = [id(v) for v in model.trainable_variables]
    assert len(ids) == len(set(ids)) == 3
    assert sum(v is encoder.kernel for v in model.trainable_variables) == 1
    assert model.count_params() == 6 * 5 + 5 + 6


def test_follows_a_change_of_the_encoders_kernel():
    model = _tied_autoencoder()
    encoder, decoder = model.get_layer("encoder"), model.get_layer("dec")
    codes = _data((2, 5))
    new_kernel = _data((6, 5), seed=1)
    encoder.kernel.assign(new_kernel)
    np.testing.assert_allclose(
        _numpy(decoder(codes)),
        codes @ new_kernel.T + _numpy(decoder.bias),
        rtol=1e-5,
        atol=1e-5,
    )


def _sgd_step(model, x, learning_rate=0.1):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    # Keras 3.10 restores a one-input model as taking a list of one input.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The structure of `inputs` doesn't match"
        )
        model.train_on_batch(x, x)


def test_a_step_moves_the_kernel_by_the_untied_models_summed_gradients():
    x = _data((8, 6))
    tied = _tied_autoencoder()
    encoder, decoder = tied.get_layer("encoder"), tied.get_layer("dec")
    kernel = _numpy(encoder.kernel)

    inputs = keras.Input((6,))
    untied_encoder = keras.layers.Dense(5)
    untied_decoder = keras.layers.Dense(6)
    untied = keras.Model(inputs, untied_decoder(untied_encoder(inputs)))
    untied_encoder.set_weights(encoder.get_weights())
    untied_decoder.set_weights([kernel.T, _numpy(decoder.bias)])

    _sgd_step(tied, x)
    _sgd_step(untied, x)
    encoder_step = _numpy(untied_encoder.kernel) - kernel
    decoder_step = _numpy(untied_decoder.kernel) - kernel.T
    np.testing.assert_allclose(
        _numpy(encoder.kernel) - kernel,
        encoder_step + decoder_step.T,
        rtol=1e-4,
        atol=1e-6,
    )
    assert np.abs(decoder_step).max() > 1e-4
    np.testing.assert_allclose(
        _numpy(decoder.bias), _numpy(untied_decoder.bias), atol=1e-6
    )


def test_the_encoders_activity_loss_counts_in_training():
    # Under JAX's stateless step every layer of a functional model opens
    # its own call context; the decoder must not clear its encoder's loss.
    inputs = keras.Input((6,))
    encoder = keras.layers.Dense(
        5, activity_regularizer=keras.regularizers.L1(0.5)
    )
    codes = encoder(inputs)
    model = keras.Model(inputs, TiedDense(encoder)(codes))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x = _data((8, 6))
    expected = np.mean((_numpy(model(x)) - x) ** 2) + 0.5 * np.sum(
        np.abs(_numpy(encoder(x)))
    ) / (8 if keras.version() >= "3.14" else 1)
    loss = float(model.train_on_batch(x, x))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_sparse_pair_input_equals_the_dense_codes():
    dense = _tied_autoencoder(k=2)
    sparse = _tied_autoencoder(k=2, return_indices=True)
    sparse.set_weights(dense.get_weights())
    x = _data((4, 6))
    np.testing.assert_allclose(
        _numpy(sparse(x)), _numpy(dense(x)), rtol=1e-5, atol=1e-6
    )


def test_sparse_pair_input_equals_sparse_dense_on_the_transpose():
    encoder = keras.layers.Dense(5)
    encoder.build((None, 4))
    decoder = TiedDense(encoder, bias_initializer="random_normal")
    values, indices = KSparse(k=2, return_indices=True)(_data((3, 5)))
    outputs = _numpy(decoder((values, indices)))
    twin = SparseDense(4, input_dim=5)
    twin.build(((None, 2), (None, 2)))
    twin.set_weights([_numpy(encoder.kernel).T, _numpy(decoder.bias)])
    np.testing.assert_allclose(
        outputs, _numpy(twin((values, indices))), rtol=1e-5, atol=1e-6
    )


def _kernel_datasets(path):
    """Shapes of every array in a `.keras` file's weights."""
    with zipfile.ZipFile(path) as archive:
        archive.extract("model.weights.h5", os.path.dirname(path))
    shapes = []
    with h5py.File(
        os.path.join(os.path.dirname(path), "model.weights.h5")
    ) as f:
        f.visititems(
            lambda name, item: (
                shapes.append(item.shape)
                if isinstance(item, h5py.Dataset)
                else None
            )
        )
    return shapes


def test_the_tie_survives_keras_saving(tmp_path):
    x = _data((8, 6))
    model = _tied_autoencoder(k=3)
    path = os.path.join(tmp_path, "tied.keras")
    model.save(path)
    assert _kernel_datasets(path).count((6, 5)) == 1

    loaded = keras.models.load_model(path, safe_mode=True)
    encoder, decoder = loaded.get_layer("encoder"), loaded.get_layer("dec")
    assert decoder.encoder is encoder
    assert decoder.kernel is encoder.kernel
    assert len(loaded.trainable_variables) == 3
    np.testing.assert_allclose(
        _numpy(call_loaded(loaded, x)), _numpy(model(x)), atol=1e-6
    )

    new_kernel = _data((6, 5), seed=2)
    encoder.kernel.assign(new_kernel)
    codes = _data((2, 5), seed=3)
    np.testing.assert_allclose(
        _numpy(decoder(codes)),
        codes @ new_kernel.T + _numpy(decoder.bias),
        rtol=1e-5,
        atol=1e-5,
    )

    encoder.kernel.assign(_numpy(model.get_layer("encoder").kernel))
    _sgd_step(model, x)
    _sgd_step(loaded, x)
    for original, restored in zip(
        model.trainable_variables, loaded.trainable_variables, strict=True
    ):
        np.testing.assert_allclose(
            _numpy(restored), _numpy(original), rtol=1e-5, atol=1e-6
        )


def test_a_decoder_model_alone_saves_the_kernel_it_uses(tmp_path):
    encoder = keras.layers.Dense(5, name="encoder")
    encoder.build((None, 6))
    codes = keras.Input((5,))
    model = keras.Model(codes, TiedDense(encoder)(codes))
    assert len(model.trainable_variables) == 3
    path = os.path.join(tmp_path, "decoder.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    x = _data((2, 5))
    np.testing.assert_allclose(
        _numpy(call_loaded(loaded, x)), _numpy(model(x)), atol=1e-6
    )


def test_config_holds_the_constructor_arguments():
    encoder = keras.layers.Dense(5, name="encoder")
    encoder.build((None, 4))
    decoder = TiedDense(
        encoder, activation="relu", use_bias=False, bias_regularizer="l2"
    )
    config = decoder.get_config()
    assert config["encoder"]["config"]["name"] == "encoder"
    assert config["activation"] == "relu"
    assert config["use_bias"] is False
    with pytest.warns(UserWarning, match="new copy of its encoder"):
        revived = TiedDense.from_config(config)
    assert revived.encoder.built
    assert revived.get_config() == config
    serialized = keras.saving.serialize_keras_object(decoder)
    with pytest.warns(UserWarning, match="new copy of its encoder"):
        deserialized = keras.saving.deserialize_keras_object(serialized)
    assert type(deserialized) is TiedDense


def _tied_model():
    inputs = keras.Input((4,))
    encoder = keras.layers.Dense(3)
    decoder = TiedDense(encoder)
    model = keras.Model(inputs, decoder(encoder(inputs)))
    return model, encoder, decoder


def test_clone_model_warns_that_it_unties_the_decoder():
    model, _, _ = _tied_model()
    with pytest.warns(UserWarning, match="clone_model"):
        clone = keras.models.clone_model(model)
    assert len(clone.trainable_weights) == 5


def test_loading_keeps_the_tie_without_warning(tmp_path):
    model, _, _ = _tied_model()
    path = str(tmp_path / "tied.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert len(loaded.trainable_weights) == 3


def test_freezing_the_decoder_warns_that_it_freezes_the_encoder():
    _, encoder, decoder = _tied_model()
    with pytest.warns(UserWarning, match="encoder .* is now frozen too"):
        decoder.trainable = False
    assert not encoder.trainable


def test_unfreezing_the_decoder_warns_that_it_unfreezes_the_encoder():
    model, encoder, decoder = _tied_model()
    model.trainable = False
    with pytest.warns(UserWarning, match="encoder .* is now trainable too"):
        decoder.trainable = True
    assert encoder.trainable


def test_freezing_the_whole_model_does_not_warn():
    model, encoder, decoder = _tied_model()
    model.trainable = False
    assert not encoder.trainable and not decoder.trainable


def test_symbolic_calls_give_the_encoders_input_size():
    encoder = keras.layers.Dense(5)
    encoder(keras.Input((7,)))
    assert TiedDense(encoder)(keras.Input((3, 5))).shape == (None, 3, 7)
    values = keras.Input((2,))
    indices = keras.Input((2,), dtype="int32")
    assert TiedDense(encoder)((values, indices)).shape == (None, 7)


def test_fit_lowers_the_reconstruction_error():
    x = _data((64, 6))
    model = _tied_autoencoder(k=3)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    history = model.fit(x, x, batch_size=16, epochs=5, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_runs_under_a_mixed_precision_policy(policy):
    encoder = keras.layers.Dense(5)
    encoder.build((None, 4))
    outputs = TiedDense(encoder, dtype=policy)(_data((3, 5)))
    out = _numpy(ops.cast(outputs, "float32"))
    assert np.all(np.isfinite(out))


def test_rejects_an_encoder_that_is_not_a_layer():
    with pytest.raises(TypeError, match="expected a Keras layer"):
        TiedDense(np.ones((4, 5)))


@pytest.mark.parametrize(
    "encoder", [keras.layers.ReLU(), keras.layers.Conv2D(3, 2)]
)
def test_rejects_an_encoder_without_a_2d_kernel(encoder):
    encoder.build((None, 8, 8, 1))
    with pytest.raises(ValueError, match="2-D `kernel`"):
        TiedDense(encoder)


def test_rejects_building_before_the_encoder():
    decoder = TiedDense(keras.layers.Dense(5))
    with pytest.raises(ValueError, match="expected a built layer"):
        decoder(_data((2, 5)))


def test_rejects_codes_of_another_size_than_the_encoders_units():
    encoder = keras.layers.Dense(5)
    encoder.build((None, 4))
    with pytest.raises(ValueError, match="encoder's units"):
        TiedDense(encoder)(_data((2, 6)))


def test_rejects_floating_indices():
    encoder = keras.layers.Dense(5)
    encoder.build((None, 4))
    with pytest.raises(TypeError, match="integer dtype"):
        TiedDense(encoder)((_data((2, 2)), _data((2, 2))))
