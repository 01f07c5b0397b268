import keras
import numpy as np
import pytest
from keras import ops

from sparsekeras.layers import BatchTopK, KSparse
from sparsekeras.models import SparseAutoencoder

from helpers import assert_resumes_exactly, call_loaded

INPUT_DIM, UNITS, K = 6, 12, 2


def _data(rows=64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(rows, INPUT_DIM)) + 1.0).astype("float32")


def _numpy(x):
    return ops.convert_to_numpy(x)


def _trained(epochs=1, x=None, **kwargs):
    x = _data() if x is None else x
    keras.utils.set_random_seed(0)
    sae = SparseAutoencoder(UNITS, K, **kwargs)
    if sae.pre_bias is not None:
        sae.adapt(x)
    sae.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = sae.fit(x, batch_size=16, epochs=epochs, verbose=0)
    return sae, history


def _adapted(**kwargs):
    keras.utils.set_random_seed(0)
    sae = SparseAutoencoder(UNITS, K, **kwargs)
    sae.adapt(_data())
    return sae


@pytest.fixture(scope="module")
def trained():
    """One trained model and its history, shared by the tests that read."""
    return _trained()


def test_fit_logs_loss_fvu_l0_and_dead_fraction(trained):
    _, history = trained
    assert sorted(history.history) == ["dead_fraction", "fvu", "l0", "loss"]
    assert history.history["l0"][-1] <= K
    assert 0.0 <= history.history["fvu"][-1] < 2.0


def test_dictionary_columns_stay_unit_norm(trained):
    sae, _ = trained
    dictionary = _numpy(sae.dictionary)
    assert dictionary.shape == (INPUT_DIM, UNITS)
    np.testing.assert_allclose(np.linalg.norm(dictionary, axis=0), 1, 1e-5)


def test_without_unit_norm_decoder_columns_drift():
    sae, _ = _trained(epochs=2, unit_norm_decoder=False)
    norms = np.linalg.norm(_numpy(sae.dictionary), axis=0)
    assert np.max(np.abs(norms - 1)) > 1e-3


@pytest.mark.parametrize("tied_init", [True, False])
def test_encoder_starts_as_decoder_transpose(tied_init):
    sae = SparseAutoencoder(UNITS, K, tied_init=tied_init)
    sae.build((None, INPUT_DIM))
    tied = np.allclose(_numpy(sae.encoder_kernel), _numpy(sae.dictionary))
    assert tied == tied_init


def test_encode_keeps_k_and_decode_inverts_the_dictionary(trained):
    sae, _ = trained
    x = _data(8, seed=1)
    codes = _numpy(sae.encode(x))
    assert codes.shape == (8, UNITS)
    assert np.all(np.count_nonzero(codes, axis=1) <= K)
    assert np.all(codes >= 0)
    expected = codes @ _numpy(sae.dictionary).T + _numpy(sae.pre_encoder_bias)
    np.testing.assert_allclose(_numpy(sae.decode(codes)), expected, 1e-5, 1e-5)
    np.testing.assert_allclose(_numpy(sae(x)), expected, 1e-5, 1e-5)


def test_adapt_sets_the_pre_encoder_bias_to_mean_or_geometric_median():
    x = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [5, 5]], "float32")
    mean = SparseAutoencoder(4, 1, pre_bias="mean")
    mean.adapt(x)
    np.testing.assert_allclose(_numpy(mean.pre_encoder_bias), [1, 1])
    median = SparseAutoencoder(4, 1)
    median.adapt(x)
    center = _numpy(median.pre_encoder_bias)
    # The geometric median: the unit vectors towards the points cancel.
    towards = (x - center) / np.linalg.norm(x - center, axis=1, keepdims=True)
    assert np.linalg.norm(towards.sum(axis=0)) < 1e-3
    assert np.linalg.norm(center) < 0.5


def test_without_pre_bias_adapt_raises():
    sae = SparseAutoencoder(4, 1, pre_bias=None)
    with pytest.raises(ValueError, match="pre_bias"):
        sae.adapt(np.ones((3, 2)))


@pytest.mark.parametrize(
    "x, error, match",
    [
        (np.full((4, 6), np.nan), ValueError, "finite"),
        (np.zeros((0, 6)), ValueError, "at least one sample"),
        (np.ones((4, 6)) + 1j, TypeError, "real numbers"),
        (np.ones((4, 5)), ValueError, "input_dim"),
        (np.ones(6), ValueError, "rows"),
    ],
)
def test_adapt_refuses_data_it_cannot_center_on(x, error, match):
    sae = _adapted()
    with pytest.raises(error, match=match):
        sae.adapt(x)


def test_decode_and_fit_refuse_another_width_once_built(trained):
    sae, _ = trained
    with pytest.raises(ValueError, match=f"codes.*{UNITS}"):
        sae.decode(np.ones((3, UNITS - 1), "float32"))
    with pytest.raises(ValueError, match="incompatible|fixed when"):
        sae.fit(np.random.rand(16, INPUT_DIM - 1), batch_size=8, verbose=0)


def test_counts_samples_since_each_latent_fired():
    x = _data(48)
    keras.utils.set_random_seed(0)
    sae = SparseAutoencoder(UNITS, K, dead_after=40, aux_k=0, pre_bias=None)
    sae.build((None, INPUT_DIM))
    # Latents 0 and 1 can never fire: their ReLU pre-activations are 0.
    bias = np.zeros(UNITS, "float32")
    bias[:2] = -1e6
    sae.encoder_bias.assign(bias)
    sae.compile(optimizer=keras.optimizers.SGD(0.0))
    history = sae.fit(x, batch_size=16, epochs=1, verbose=0, shuffle=False)
    since = _numpy(sae.samples_since_fired)
    # 48 samples, saturated at dead_after = 40.
    np.testing.assert_array_equal(since[:2], [40, 40])
    assert int(_numpy(sae.samples_seen)) == 48
    codes = _numpy(sae.encode(x[32:]))
    fired_last = np.flatnonzero(np.any(codes != 0, axis=0))
    np.testing.assert_array_equal(since[fired_last], 0)
    dead = np.mean(since >= 40)
    assert history.history["dead_fraction"][-1] == pytest.approx(dead)


def test_counters_saturate_rather_than_wrap():
    x = _data(32)
    keras.utils.set_random_seed(0)
    sae = SparseAutoencoder(UNITS, K, dead_after=2**30, aux_k=0, pre_bias=None)
    sae.build((None, INPUT_DIM))
    bias = np.zeros(UNITS, "float32")
    bias[:2] = -1e6
    sae.encoder_bias.assign(bias)
    since = np.zeros(UNITS, "int32")
    since[:2] = 2**30 - 3
    sae.samples_since_fired.assign(since)
    sae.samples_seen.assign(2**31 - 20)
    sae.compile(optimizer=keras.optimizers.SGD(0.0))
    history = sae.fit(x, batch_size=16, epochs=1, verbose=0)
    np.testing.assert_array_equal(_numpy(sae.samples_since_fired)[:2], 2**30)
    assert int(_numpy(sae.samples_seen)) == 2**31 - 1
    assert history.history["dead_fraction"][-1] == pytest.approx(2 / UNITS)


def test_evaluate_and_validation_report_l0_and_dead_fraction_as_training():
    x = _data(48)
    keras.utils.set_random_seed(0)
    sae = SparseAutoencoder(UNITS, K, dead_after=40, aux_k=0, pre_bias=None)
    sae.build((None, INPUT_DIM))
    # Latents 0 and 1 never fire: dead after 40 samples.
    bias = np.zeros(UNITS, "float32")
    bias[:2] = -1e6
    sae.encoder_bias.assign(bias)
    sae.compile(optimizer=keras.optimizers.SGD(0.0))
    history = sae.fit(
        x, batch_size=16, epochs=1, verbose=0, validation_data=(x,)
    )
    logs = sae.evaluate(x, batch_size=16, verbose=0, return_dict=True)
    dead = np.mean(_numpy(sae.samples_since_fired) >= 40)
    assert dead > 0
    l0 = np.mean(np.count_nonzero(_numpy(sae.encode(x)), axis=1))
    for reported in (
        logs,
        {
            k[4:]: v[-1]
            for k, v in history.history.items()
            if k.startswith("val_")
        },
    ):
        assert reported["dead_fraction"] == pytest.approx(dead)
        assert reported["l0"] == pytest.approx(l0)
    assert history.history["dead_fraction"][-1] == pytest.approx(dead)


def _numpy_loss(sae, x, dead, residual=None, **weights):
    """Gao et al.'s loss, transcribed in NumPy from the model's weights.

    `weights` replaces some of them by float64 arrays, by name; AuxK's
    residual is `residual` when given (as if it had no gradient).
    """

    def weight(name):
        if name in weights:
            return weights[name]
        return _numpy(getattr(sae, name)).astype("float64")

    w_enc = weight("encoder_kernel")
    b_enc = weight("encoder_bias")
    w_dec = weight("decoder_kernel")
    b_pre = weight("pre_encoder_bias")
    x = x.astype("float64")
    pre = (x - b_pre) @ w_enc + b_enc
    z = np.zeros_like(pre)
    for row, values in enumerate(np.maximum(pre, 0)):
        top = np.argsort(-values, kind="stable")[:K]
        z[row, top] = values[top]
    x_hat = z @ w_dec + b_pre
    fvu = np.sum((x - x_hat) ** 2) / np.sum((x - x.mean(0)) ** 2)
    if not np.any(dead):
        # No dead latent, no AuxK term (the model skips it; the paper's
        # would be a constant without gradient).
        return fvu
    e = x - x_hat if residual is None else residual
    dead_pre = np.where(dead, pre, -np.inf)
    z_aux = np.zeros_like(pre)
    for row, values in enumerate(dead_pre):
        top = np.argsort(-values, kind="stable")[: sae._aux_k]
        z_aux[row, top] = np.maximum(values[top], 0)
    e_hat = z_aux @ w_dec
    aux = np.sum((e - e_hat) ** 2) / np.sum((e - e.mean(0)) ** 2)
    return fvu + sae.aux_coefficient * aux


# More dead latents than aux_k (a top-k among them), and fewer (all).
@pytest.mark.parametrize("dead", [[0, 3, 5, 7], [3, 5]])
def test_loss_matches_a_numpy_transcription_of_the_paper(dead):
    x = _data(32)
    sae = _adapted(dead_after=10, aux_k=3)
    since = np.zeros(UNITS, "int32")
    since[dead] = 10
    sae.samples_since_fired.assign(since)
    expected = _numpy_loss(sae, x, since >= 10)
    sae(x, training=True)
    (loss,) = sae.losses
    np.testing.assert_allclose(float(_numpy(loss)), expected, rtol=1e-5)


def _numerical_gradient(loss, value, step=1e-6):
    """Central differences of `loss` at `value` (float64), entry by entry."""
    gradient = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        shifted = [value.copy(), value.copy()]
        shifted[0][index] += step
        shifted[1][index] -= step
        gradient[index] = (loss(shifted[0]) - loss(shifted[1])) / (2 * step)
    return gradient


def test_one_sgd_step_follows_the_gradient_of_the_loss():
    # One SGD step of rate 1 moves each weight by minus its gradient.
    x = _data(32)
    sae = _adapted(aux_coefficient=0.0)
    no_dead = np.zeros(UNITS, bool)
    expected = {
        name: _numerical_gradient(
            lambda value, name=name: _numpy_loss(
                sae, x, no_dead, **{name: value}
            ),
            _numpy(getattr(sae, name)).astype("float64"),
        )
        for name in ("pre_encoder_bias", "encoder_bias", "encoder_kernel")
    }
    _assert_one_sgd_step_moves_by(sae, x, expected)


def _assert_one_sgd_step_moves_by(sae, x, expected):
    """One step of SGD(1) moves each named weight by minus its gradient."""
    before = {name: _numpy(getattr(sae, name)) for name in expected}
    sae.compile(optimizer=keras.optimizers.SGD(1.0))
    sae.train_on_batch(x)
    for name, gradient in expected.items():
        moved = before[name] - _numpy(getattr(sae, name))
        np.testing.assert_allclose(moved, gradient, 1e-3, 1e-5, name)


def _residual(sae, x):
    x = x.astype("float64")
    return x - _numpy(sae(x.astype("float32"))).astype("float64")


# More dead latents than aux_k (a top-k among them), and fewer (all).
@pytest.mark.parametrize("dead", [[0, 3, 5, 7], [3, 5]])
def test_auxk_gradients_are_those_of_the_paper_with_a_fixed_residual(dead):
    x = _data(32)
    sae = _adapted(dead_after=10, aux_k=3, unit_norm_decoder=False)
    since = np.zeros(UNITS, "int32")
    since[dead] = 10
    sae.samples_since_fired.assign(since)
    residual = _residual(sae, x)
    names = ("pre_encoder_bias", "encoder_bias", "encoder_kernel")
    expected = {
        name: _numerical_gradient(
            lambda value, name=name: _numpy_loss(
                sae, x, since >= 10, residual, **{name: value}
            ),
            _numpy(getattr(sae, name)).astype("float64"),
        )
        for name in (*names, "decoder_kernel")
    }
    _assert_one_sgd_step_moves_by(sae, x, expected)


@pytest.mark.parametrize("aux_k, dead", [(0, [0, 1]), (3, [])])
def test_auxk_adds_nothing_when_off_or_nothing_is_dead(aux_k, dead):
    x = _data(32)
    sae = _adapted(dead_after=10, aux_k=aux_k)
    since = np.zeros(UNITS, "int32")
    since[dead] = 10
    sae.samples_since_fired.assign(since)
    reconstruction = _numpy(sae(x))
    fvu = np.sum((x - reconstruction) ** 2) / np.sum((x - x.mean(0)) ** 2)
    np.testing.assert_allclose(float(_numpy(_loss(sae, x))), fvu, rtol=1e-5)


def _loss(sae, x):
    sae(x, training=True)
    return sae.losses[0]


@pytest.mark.parametrize("activation", ["topk", "batch_topk"])
def test_save_load_keeps_weights_dead_state_and_threshold(activation, tmp_path):
    sae, _ = _trained(activation=activation, dead_after=20)
    path = str(tmp_path / "sae.keras")
    sae.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded, SparseAutoencoder)
    assert loaded.get_config() == sae.get_config()
    names = [w.path for w in sae.weights]
    assert any("samples_since_fired" in n for n in names)
    for saved, restored in zip(sae.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(
            _numpy(saved), _numpy(restored), err_msg=saved.path
        )
    x = _data(8, seed=2)
    np.testing.assert_allclose(
        _numpy(call_loaded(loaded, x)), _numpy(sae(x)), 1e-6, 1e-6
    )
    selection = loaded.selection
    assert isinstance(
        selection, BatchTopK if activation == "batch_topk" else KSparse
    )


def test_training_resumes_exactly_after_save_and_load(tmp_path):
    x = _data(48)

    def fresh():
        keras.utils.set_random_seed(0)
        sae = SparseAutoencoder(UNITS, K, dead_after=20, aux_k=4)
        sae.adapt(x)
        sae.compile(optimizer=keras.optimizers.Adam(1e-2))
        return sae

    fit = dict(batch_size=16, verbose=0, shuffle=False)
    assert_resumes_exactly(fresh, x, str(tmp_path / "half.keras"), fit)


def test_evaluate_and_predict_give_the_reconstruction(trained):
    sae, _ = trained
    x = _data(16, seed=3)
    assert sae.predict(x, verbose=0).shape == x.shape
    logs = sae.evaluate(x, verbose=0, return_dict=True)
    assert logs["fvu"] == pytest.approx(logs["loss"], rel=1e-4)


def _predicting_the_mean(x):
    """A model whose codes are all 0, so that it predicts `b_pre`, x's mean."""
    sae = SparseAutoencoder(UNITS, K, pre_bias="mean", aux_k=0)
    sae.adapt(x)
    sae.encoder_bias.assign(np.full(UNITS, -1e6, "float32"))
    sae.compile(optimizer=keras.optimizers.SGD(0.0))
    return sae


@pytest.mark.parametrize("std", [1.0, 0.01])
def test_fvu_of_the_mean_is_one_for_data_far_from_zero(std):
    rng = np.random.default_rng(4)
    x = (1000.0 + std * rng.normal(size=(4096, INPUT_DIM))).astype("float32")
    sae = _predicting_the_mean(x)
    history = sae.fit(x, batch_size=1024, epochs=1, verbose=0, shuffle=False)
    logs = sae.evaluate(x, batch_size=1024, verbose=0, return_dict=True)
    assert history.history["fvu"][-1] == pytest.approx(1.0, abs=1e-3)
    assert logs["fvu"] == pytest.approx(1.0, abs=1e-3)
    # The loss is the mean of each batch's FVU, about its own batch mean.
    mean = _numpy(sae.pre_encoder_bias).astype("float64")
    batches = x.astype("float64").reshape(4, 1024, INPUT_DIM)
    errors = np.sum((batches - mean) ** 2, axis=(1, 2))
    variances = np.sum((batches - batches.mean(1, keepdims=True)) ** 2, (1, 2))
    expected = np.mean(errors / variances)
    assert history.history["loss"][-1] == pytest.approx(expected, abs=1e-3)
    assert logs["loss"] == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    "rows, batch_size, split",
    [(32, 1, 0.0), (33, 16, 0.0), (1, None, 0.0), (41, 8, 0.2)],
)
def test_batch_of_one_is_refused_in_fit(rows, batch_size, split):
    sae = _adapted()
    sae.compile(optimizer="adam")
    with pytest.raises(ValueError, match="batch_size.*one row"):
        sae.fit(
            _data(rows),
            batch_size=batch_size,
            validation_split=split,
            verbose=0,
        )
    with pytest.raises(ValueError, match="batch_size.*one row"):
        sae.evaluate(_data(rows), batch_size=batch_size, verbose=0)


def test_data_without_variance_is_refused_in_fit():
    sae = _adapted()
    sae.compile(optimizer="adam")
    with pytest.raises(ValueError, match="every row equal"):
        sae.fit(np.ones((32, INPUT_DIM), "float32"), verbose=0)


@pytest.mark.parametrize("training", [True, False])
def test_loss_of_a_batch_without_variance_is_undefined_never_zero(training):
    sae = _adapted(aux_k=0)
    for x in (_data(1), np.ones((4, INPUT_DIM), "float32")):
        sae(x, training=training)
        (loss,) = sae.losses
        assert not np.isfinite(float(_numpy(loss)))


def test_predict_of_a_nan_row_is_nan(trained):
    sae, _ = trained
    x = _data(4, seed=5)
    x[1, 2] = np.nan
    for outputs in (sae.predict(x, verbose=0), _numpy(sae(x))):
        assert np.all(np.isnan(outputs[1]))
        assert np.all(np.isfinite(np.delete(outputs, 1, axis=0)))


def test_call_returns_the_reconstruction_in_and_out_of_training():
    sae = _adapted()
    x = _data(8)
    for training in (True, False):
        outputs = sae(x, training=training)
        assert tuple(outputs.shape) == x.shape


def test_nested_model_trains_on_the_reconstruction_and_the_sae_loss():
    sae = _adapted(aux_k=0)
    x = _data(32, seed=6)
    model = keras.Sequential([keras.Input((INPUT_DIM,)), sae])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    model.fit(x, x, batch_size=32, epochs=1, verbose=0)
    logs = model.evaluate(x, x, batch_size=32, verbose=0, return_dict=True)
    reconstruction = _numpy(sae(x)).astype("float64")
    error = (x - reconstruction) ** 2
    fvu = np.sum(error) / np.sum((x - x.mean(0)) ** 2)
    assert logs["loss"] == pytest.approx(np.mean(error) + fvu, rel=1e-4)
    inputs = keras.Input((INPUT_DIM,))
    outer = keras.Model(inputs, keras.layers.Dense(3)(sae(inputs)))
    assert outer.predict(x, verbose=0).shape == (32, 3)


def test_compile_with_a_loss_is_refused():
    with pytest.raises(ValueError, match="loss.*own loss"):
        _adapted().compile(optimizer="adam", loss="mse")


def test_fit_with_targets_is_refused():
    sae = _adapted()
    sae.compile(optimizer="adam")
    x = _data(32)
    with pytest.raises(ValueError, match="`y`.*expected `None`"):
        sae.fit(x, x, verbose=0)
    with pytest.raises(ValueError, match="`y`.*expected `None`"):
        sae.evaluate(x, x, verbose=0)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"units": 0, "k": 1}, ValueError),
        ({"units": 4, "k": 5}, ValueError),
        ({"units": 4, "k": 1.0}, TypeError),
        ({"units": 4, "k": 1, "activation": "relu"}, ValueError),
        ({"units": 4, "k": 1, "pre_bias": "median"}, ValueError),
        ({"units": 4, "k": 1, "dead_after": 0}, ValueError),
        ({"units": 4, "k": 1, "dead_after": 2**30 + 1}, ValueError),
        ({"units": 4, "k": 1, "dead_after": 2**31 - 1}, ValueError),
        ({"units": 4, "k": 1, "aux_k": -1}, ValueError),
        ({"units": 4, "k": 1, "aux_coefficient": -1.0}, ValueError),
        ({"units": 4, "k": 1, "tied_init": 1}, TypeError),
    ],
)
def test_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error, match="Invalid"):
        SparseAutoencoder(**kwargs)


def test_rejects_inputs_that_are_not_rows():
    with pytest.raises(ValueError, match="Invalid input shape"):
        SparseAutoencoder(4, 1).build((None, 2, 3))


def test_get_config_returns_the_constructor_arguments():
    kwargs = dict(
        units=8,
        k=2,
        activation="batch_topk",
        tied_init=False,
        unit_norm_decoder=False,
        pre_bias="mean",
        dead_after=7,
        aux_k=3,
        aux_coefficient=0.5,
    )
    config = SparseAutoencoder(**kwargs).get_config()
    assert {name: config[name] for name in kwargs} == kwargs
    revived = SparseAutoencoder.from_config(config)
    assert revived.get_config() == config


def test_trains_under_mixed_precision_with_dead_latents():
    x = _data(32)
    keras.utils.set_random_seed(0)
    sae = SparseAutoencoder(UNITS, K, dtype="mixed_float16", dead_after=1)
    sae.adapt(x)
    since = np.zeros(UNITS, "int32")
    since[:3] = 1
    sae.samples_since_fired.assign(since)
    sae.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = sae.fit(x, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert keras.backend.standardize_dtype(sae.encode(x).dtype) == "float16"
