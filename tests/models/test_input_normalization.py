"""`SparseAutoencoder(normalize_inputs=True)`: trains on `s x`, takes and
returns raw `x`, saves `s`, and folds it into the weights exactly.

SAELens issues #354 (the decoder bias left out of the fold) and #381 (a
checkpoint saved without the scale) are the failures pinned here.
"""

import keras
import numpy as np
import pytest
from keras import ops

from sparsekeras.models import SparseAutoencoder

INPUT_DIM, UNITS, K = 6, 12, 2
ACTIVATIONS = ["topk", "batch_topk"]


def _data(rows=64, seed=0):
    # Far from unit norm, so that a forgotten scale shows.
    rng = np.random.default_rng(seed)
    return (30.0 * rng.normal(size=(rows, INPUT_DIM)) + 20.0).astype("float32")


def _numpy(x):
    return ops.convert_to_numpy(x)


def _trained(activation="topk", **kwargs):
    keras.utils.set_random_seed(0)
    sae = SparseAutoencoder(
        UNITS, K, activation=activation, normalize_inputs=True, **kwargs
    )
    x = _data()
    sae.adapt(x)
    sae.compile(optimizer=keras.optimizers.Adam(1e-2))
    sae.fit(x, batch_size=16, epochs=2, verbose=0)
    return sae


def _fvu(x, reconstruction):
    error = np.sum((x - reconstruction) ** 2, axis=1).mean()
    return error / np.sum((x - x.mean(axis=0)) ** 2, axis=1).mean()


@pytest.mark.parametrize("pre_bias", ["geometric_median", None])
def test_adapt_scales_the_mean_norm_to_sqrt_input_dim(pre_bias):
    sae = SparseAutoencoder(UNITS, K, normalize_inputs=True, pre_bias=pre_bias)
    x = _data()
    sae.adapt(x)
    scale = float(_numpy(sae.input_scale))
    norm = np.linalg.norm(scale * x.astype("float64"), axis=1).mean()
    np.testing.assert_allclose(norm, np.sqrt(INPUT_DIM), rtol=1e-6)
    assert sae.input_scale.dtype == "float32"
    assert not sae.input_scale.trainable


def test_pre_bias_is_measured_on_the_scaled_inputs():
    sae = SparseAutoencoder(UNITS, K, normalize_inputs=True, pre_bias="mean")
    x = _data()
    sae.adapt(x)
    scale = float(_numpy(sae.input_scale))
    np.testing.assert_allclose(
        _numpy(sae.pre_encoder_bias), scale * x.mean(axis=0), rtol=1e-5
    )


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_model_takes_and_returns_raw_inputs(activation):
    sae = _trained(activation)
    x = _data(32, seed=1)
    reconstruction = _numpy(sae.predict(x, batch_size=16, verbose=0))
    # The trained model reconstructs the raw inputs, not the scaled ones.
    assert _fvu(x, reconstruction) < 0.9
    np.testing.assert_allclose(
        _numpy(sae.decode(sae.encode(x))), reconstruction, rtol=1e-4, atol=1e-3
    )
    np.testing.assert_allclose(_numpy(sae(x)), reconstruction, 1e-4, 1e-3)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_saved_and_reloaded_model_reconstructs_raw_inputs(activation, tmp_path):
    sae = _trained(activation)
    x = _data(32, seed=1)
    before = _numpy(sae.predict(x, batch_size=16, verbose=0))
    path = str(tmp_path / "sae.keras")
    sae.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        _numpy(loaded.input_scale), _numpy(sae.input_scale)
    )
    after = _numpy(loaded.predict(x, batch_size=16, verbose=0))
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(
        _numpy(loaded.encode(x)) != 0, _numpy(sae.encode(x)) != 0
    )


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_folding_the_scale_leaves_codes_and_outputs_unchanged(
    activation, tmp_path
):
    sae = _trained(activation)
    x = _data(32, seed=1)
    codes = _numpy(sae.encode(x))
    outputs = _numpy(sae.predict(x, batch_size=16, verbose=0))
    scale = float(_numpy(sae.input_scale))
    assert abs(scale - 1) > 0.5
    sae.fold_input_scale()
    assert float(_numpy(sae.input_scale)) == 1.0
    np.testing.assert_allclose(_numpy(sae.encode(x)), codes, 1e-5, 1e-5)
    np.testing.assert_array_equal(_numpy(sae.encode(x)) != 0, codes != 0)
    folded = _numpy(sae.predict(x, batch_size=16, verbose=0))
    np.testing.assert_allclose(folded, outputs, rtol=1e-5, atol=1e-4)
    # The decoder bias is folded too (SAELens #354): the reloaded folded
    # model, whose scale is 1, still reconstructs raw inputs.
    path = str(tmp_path / "folded.keras")
    sae.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    reloaded = _numpy(loaded.predict(x, batch_size=16, verbose=0))
    np.testing.assert_allclose(reloaded, outputs, rtol=1e-5, atol=1e-4)


def test_fit_before_adapt_is_refused():
    sae = SparseAutoencoder(UNITS, K, normalize_inputs=True, pre_bias=None)
    sae.compile(optimizer="adam")
    with pytest.raises(ValueError, match="adapt"):
        sae.fit(_data(), batch_size=16, verbose=0)


def test_unmeasured_scale_runs_unscaled_rather_than_nan():
    sae = SparseAutoencoder(UNITS, K, normalize_inputs=True, pre_bias=None)
    x = _data(8)
    reconstruction = _numpy(sae(x))
    assert np.all(np.isfinite(reconstruction))
    plain = SparseAutoencoder(UNITS, K, pre_bias=None)
    plain.build((None, INPUT_DIM))
    plain.set_weights(
        [
            _numpy(w)
            for w in sae.weights
            if w is not sae.input_scale and w.path.startswith(sae.name)
        ]
    )
    np.testing.assert_allclose(_numpy(plain(x)), reconstruction, 1e-6)


def test_adapt_refuses_rows_that_are_all_zero():
    sae = SparseAutoencoder(UNITS, K, normalize_inputs=True)
    with pytest.raises(ValueError, match="mean norm"):
        sae.adapt(np.zeros((8, INPUT_DIM), "float32"))


@pytest.mark.parametrize("value", [1, "yes", None])
def test_normalize_inputs_must_be_a_bool(value):
    with pytest.raises((TypeError, ValueError), match="normalize_inputs"):
        SparseAutoencoder(UNITS, K, normalize_inputs=value)


def test_fold_without_normalize_inputs_is_refused():
    sae = SparseAutoencoder(UNITS, K)
    sae.build((None, INPUT_DIM))
    with pytest.raises(ValueError, match="normalize_inputs"):
        sae.fold_input_scale()


def test_config_round_trip_keeps_normalize_inputs():
    sae = SparseAutoencoder(UNITS, K, normalize_inputs=True)
    config = sae.get_config()
    assert config["normalize_inputs"] is True
    assert SparseAutoencoder.from_config(config).get_config() == config
    default = SparseAutoencoder(UNITS, K)
    assert default.get_config()["normalize_inputs"] is False
    default.build((None, INPUT_DIM))
    # A model without the option keeps release 0.1.0's weights.
    assert default.input_scale is None
    sae.build((None, INPUT_DIM))
    assert len(sae.weights) == len(default.weights) + 1


def test_bfloat16_model_scales_by_the_float32_scale_itself():
    # 1 + 3/512 rounds to 1 + 4/512 in bf16: a model that scaled by the
    # rounded value would be 0.2% off on average, and off its fold.
    keras.config.set_dtype_policy("mixed_bfloat16")
    sae = SparseAutoencoder(64, 8, normalize_inputs=True, pre_bias=None)
    sae.build((None, INPUT_DIM))
    scale = 1.0 + 3 / 512
    sae.input_scale.assign(scale)
    codes = np.random.default_rng(0).uniform(1, 2, size=(512, 64))
    decoded = _numpy(ops.cast(sae.decode(codes), "float32"))
    exact = [
        _numpy(ops.cast(ops.cast(a, "bfloat16"), "float32")).astype("float64")
        for a in (codes, sae.decoder_kernel)
    ]
    exact = exact[0] @ exact[1] / scale
    ratio = decoded[np.abs(exact) > 0.5] / exact[np.abs(exact) > 0.5]
    assert abs(ratio.mean() - 1) < 5e-4
