"""JumpReLU SparseAutoencoders, and their conversion from BatchTopK."""

import math

import keras
import numpy as np
import numpy_sae
import pytest
from keras import ops

from sparsekeras.layers import JumpReLU
from sparsekeras.models import SparseAutoencoder

from helpers import assert_resumes_exactly

INPUT_DIM, UNITS, K = 6, 12, 2
# θ and ε at the scale of the pre-activations of `_data`.
SCALE = dict(initial_threshold=0.5, bandwidth=0.5)


def _data(rows=64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(rows, INPUT_DIM)) + 1.0).astype("float32")


def _numpy(x):
    return ops.convert_to_numpy(x)


def _jumprelu(**kwargs):
    keras.utils.set_random_seed(0)
    sae = SparseAutoencoder(UNITS, activation="jumprelu", **{**SCALE, **kwargs})
    sae.adapt(_data())
    return sae


def _spread_thresholds(sae):
    """θ from 0.3 to 0.8 across latents, so that each has its own."""
    sae.selection.log_threshold.assign(
        np.log(np.linspace(0.3, 0.8, UNITS)).astype("float32")
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"k": 2, "activation": "jumprelu"}, ValueError, "`k`.*None"),
        ({"activation": "topk"}, ValueError, "`k`.*positive integer"),
        ({"k": 2, "bandwidth": 0.1}, ValueError, "`bandwidth`.*jumprelu"),
        (
            {"k": 2, "sparsity_coefficient": 1.0},
            ValueError,
            "`sparsity_coefficient`.*jumprelu",
        ),
        ({"activation": "jumprelu", "bandwidth": 0.0}, ValueError, "bandwidth"),
        (
            {"activation": "jumprelu", "initial_threshold": -1.0},
            ValueError,
            "initial_threshold",
        ),
        (
            {"activation": "jumprelu", "sparsity_penalty": "l1"},
            ValueError,
            "sparsity_penalty.*'l0', 'tanh', 'quadratic'",
        ),
        (
            {"activation": "jumprelu", "sparsity_penalty": "quadratic"},
            ValueError,
            "`target_l0`.*positive number.*Received: target_l0=None",
        ),
        (
            {
                "activation": "jumprelu",
                "sparsity_penalty": "quadratic",
                "target_l0": 0,
            },
            ValueError,
            "target_l0",
        ),
        (
            {"activation": "jumprelu", "target_l0": 4},
            ValueError,
            "`target_l0`.*None.*sparsity_penalty='l0'",
        ),
        ({"k": 2, "target_l0": 4}, ValueError, "`target_l0`"),
        (
            {"activation": "jumprelu", "sparsity_coefficient": -1.0},
            ValueError,
            "sparsity_coefficient",
        ),
        (
            {"activation": "jumprelu", "sparsity_warmup_steps": -1},
            ValueError,
            "sparsity_warmup_steps",
        ),
        (
            {"activation": "jumprelu", "sparsity_warmup_steps": 1.5},
            TypeError,
            "sparsity_warmup_steps",
        ),
    ],
)
def test_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=f"Invalid.*{match}"):
        SparseAutoencoder(UNITS, **kwargs)


def test_loss_warms_the_penalty_up_linearly():
    # λ_t = λ min(1, t / W), t the training steps before this one.
    x = _data(32)
    sae = _jumprelu(sparsity_coefficient=0.05, sparsity_warmup_steps=4)
    _spread_thresholds(sae)
    no_dead = np.zeros(UNITS, bool)
    for step in (0, 2, 4):
        sae.warmup_step.assign(step)
        expected = numpy_sae.loss(
            sae, x, no_dead, coefficient=0.05 * min(1, step / 4)
        )
        sae(x, training=True)
        (loss,) = sae.losses
        np.testing.assert_allclose(float(_numpy(loss)), expected, 1e-5)
        # Each training call counts a step, up to W.
        assert int(_numpy(sae.warmup_step)) == min(step + 1, 4)


@pytest.mark.parametrize(
    "penalty, groups",
    [("l0", None), ("tanh", None), ("quadratic", None), ("l0", [4, 8])],
)
def test_gradients_match_finite_differences_and_the_estimator(penalty, groups):
    # One SGD step of rate 1 moves each weight by minus its gradient: the
    # encoder's and decoder's by finite differences of the NumPy loss
    # (H is piecewise constant there), log θ's by the paper's
    # straight-through estimator, at half the warmed-up coefficient.
    x = _data(32)
    sae = _jumprelu(
        aux_k=0,
        unit_norm_decoder=False,
        sparsity_penalty=penalty,
        sparsity_coefficient=0.05,
        sparsity_warmup_steps=4,
        matryoshka_groups=groups,
        # Off the batch's mean L0, so that the penalty has a gradient.
        target_l0=4.5 if penalty == "quadratic" else None,
    )
    _spread_thresholds(sae)
    sae.warmup_step.assign(2)
    coefficient = 0.05 * 2 / 4
    no_dead = np.zeros(UNITS, bool)
    expected = {
        name: numpy_sae.numerical_gradient(
            lambda value, name=name: numpy_sae.loss(
                sae, x, no_dead, coefficient=coefficient, **{name: value}
            ),
            numpy_sae.weights(sae)[name],
        )
        for name in numpy_sae.NAMES
    }
    log_theta = numpy_sae.log_threshold_gradient(sae, x, coefficient)
    assert np.count_nonzero(log_theta) >= UNITS // 2
    before = {name: _numpy(getattr(sae, name)) for name in expected}
    theta_before = _numpy(sae.selection.log_threshold)
    sae.compile(optimizer=keras.optimizers.SGD(1.0))
    sae.train_on_batch(x)
    for name, gradient in expected.items():
        moved = before[name] - _numpy(getattr(sae, name))
        np.testing.assert_allclose(moved, gradient, 1e-3, 1e-5, name)
    moved = theta_before - _numpy(sae.selection.log_threshold)
    np.testing.assert_allclose(moved, log_theta, 1e-3, 1e-5, "log θ")


def test_codes_are_the_pre_activations_above_each_threshold():
    sae = _jumprelu()
    _spread_thresholds(sae)
    x = _data(16, seed=1)
    w = numpy_sae.weights(sae)
    pre = numpy_sae.pre_activations(w, x.astype("float64"))
    theta = np.exp(w["log_threshold"])
    for training in (False, True):
        codes = _numpy(sae.encode(x, training=training))
        np.testing.assert_array_equal(codes != 0, pre > theta)
        np.testing.assert_allclose(codes, pre * (pre > theta), 1e-5, 1e-5)


def _fit_jumprelu(coefficient, epochs=8):
    x = _data(256)
    sae = _jumprelu(sparsity_coefficient=coefficient)
    sae.compile(optimizer=keras.optimizers.Adam(3e-2))
    return sae.fit(x, batch_size=64, epochs=epochs, verbose=0).history


def test_l0_falls_with_the_penalty_on():
    # SAELens #494: under Adam a step moves log θ by about the learning
    # rate whatever λ, so a θ that starts far below the pre-activations
    # (0.1 here) stays there and L0 does not fall. Here θ starts at their
    # scale.
    penalised = _fit_jumprelu(0.3)
    free = _fit_jumprelu(0.0)
    assert penalised["l0"][-1] < 0.6 * penalised["l0"][0]
    assert penalised["l0"][-1] < 0.6 * free["l0"][-1]


def _fit_to_target(target, initial_threshold):
    x = _data(256)
    sae = _jumprelu(
        initial_threshold=initial_threshold,
        sparsity_penalty="quadratic",
        sparsity_coefficient=1.0,
        target_l0=target,
    )
    sae.compile(optimizer=keras.optimizers.Adam(3e-2))
    return sae.fit(x, batch_size=64, epochs=30, verbose=0).history["l0"]


@pytest.mark.parametrize("initial_threshold", [0.15, 1.0])
def test_quadratic_penalty_pulls_l0_to_the_target_from_either_side(
    initial_threshold,
):
    # Gemma Scope 2's penalty: θ far below the pre-activations starts L0
    # above the target, θ far above starts it below; both end near it.
    l0 = _fit_to_target(3.0, initial_threshold)
    assert (l0[0] > 4.0) if initial_threshold < 0.5 else (l0[0] < 2.0)
    assert abs(np.mean(l0[-5:]) - 3.0) < 0.4, l0


def test_get_config_round_trip():
    kwargs = dict(
        units=8,
        k=None,
        activation="jumprelu",
        matryoshka_groups=[2, 6],
        initial_threshold=0.25,
        bandwidth=0.125,
        sparsity_penalty="tanh",
        sparsity_coefficient=2.0,
        sparsity_warmup_steps=100,
    )
    config = SparseAutoencoder(**kwargs).get_config()
    assert config["target_l0"] is None
    quadratic = {**kwargs, "sparsity_penalty": "quadratic", "target_l0": 3}
    assert SparseAutoencoder(**quadratic).get_config()["target_l0"] == 3.0
    assert {name: config[name] for name in kwargs} == kwargs
    revived = SparseAutoencoder.from_config(config)
    assert revived.get_config() == config
    assert isinstance(revived.selection, JumpReLU)


def test_training_resumes_exactly_after_save_and_load(tmp_path):
    x = _data(48)

    def fresh():
        sae = _jumprelu(
            dead_after=20,
            aux_k=4,
            sparsity_penalty="tanh",
            sparsity_coefficient=0.05,
            sparsity_warmup_steps=5,
        )
        sae.compile(optimizer=keras.optimizers.Adam(1e-2))
        return sae

    fit = dict(batch_size=16, verbose=0, shuffle=False)
    path = str(tmp_path / "jumprelu.keras")

    def loaded_after_one_epoch(model):
        assert int(_numpy(model.warmup_step)) == 3

    resumed = assert_resumes_exactly(
        fresh, x, path, fit, check_loaded=loaded_after_one_epoch
    )
    # The warm-up's step is saved: 3 steps an epoch, saturating at 5.
    assert int(_numpy(resumed.warmup_step)) == 5


@pytest.fixture(scope="module")
def batch_topk():
    x = _data(128)
    keras.utils.set_random_seed(0)
    sae = SparseAutoencoder(
        UNITS, K, activation="batch_topk", matryoshka_groups=[4, 8]
    )
    sae.adapt(x)
    sae.compile(optimizer=keras.optimizers.Adam(1e-2))
    sae.fit(x, batch_size=32, epochs=2, verbose=0)
    return sae


def test_from_batch_topk_gives_the_same_codes(batch_topk):
    converted = SparseAutoencoder.from_batch_topk(
        batch_topk, sparsity_coefficient=0.01
    )
    assert converted.activation == "jumprelu" and converted.k is None
    assert converted.matryoshka_groups == [4, 8]
    assert converted.sparsity_coefficient == 0.01
    theta = float(_numpy(batch_topk.selection.threshold))
    np.testing.assert_allclose(
        _numpy(converted.selection.threshold), theta, rtol=1e-6
    )
    x = _data(64, seed=7)
    codes = _numpy(batch_topk.encode(x))
    assert 0 < np.count_nonzero(codes) < codes.size
    np.testing.assert_array_equal(_numpy(converted.encode(x)), codes)
    np.testing.assert_array_equal(
        converted.predict(x, verbose=0), batch_topk.predict(x, verbose=0)
    )
    np.testing.assert_array_equal(
        _numpy(converted.samples_since_fired),
        _numpy(batch_topk.samples_since_fired),
    )


def test_from_batch_topk_keeps_the_input_scale():
    x = 3.0 * _data(128)
    keras.utils.set_random_seed(0)
    sae = SparseAutoencoder(
        UNITS, K, activation="batch_topk", normalize_inputs=True
    )
    sae.adapt(x)
    sae.compile(optimizer=keras.optimizers.Adam(1e-2))
    sae.fit(x, batch_size=32, epochs=1, verbose=0)
    converted = SparseAutoencoder.from_batch_topk(sae)
    assert converted.normalize_inputs
    np.testing.assert_array_equal(
        _numpy(converted.input_scale), _numpy(sae.input_scale)
    )
    np.testing.assert_array_equal(
        _numpy(converted.encode(x)), _numpy(sae.encode(x))
    )
    np.testing.assert_array_equal(
        converted.predict(x, verbose=0), sae.predict(x, verbose=0)
    )


def test_from_batch_topk_refuses_what_it_cannot_convert(batch_topk):
    untrained = SparseAutoencoder(UNITS, K, activation="batch_topk")
    untrained.build((None, INPUT_DIM))
    with pytest.raises(ValueError, match="threshold θ > 0.*threshold=0.0"):
        SparseAutoencoder.from_batch_topk(untrained)
    topk = SparseAutoencoder(UNITS, K)
    topk.build((None, INPUT_DIM))
    with pytest.raises(ValueError, match="batch_topk.*activation='topk'"):
        SparseAutoencoder.from_batch_topk(topk)
    with pytest.raises(TypeError, match="SparseAutoencoder"):
        SparseAutoencoder.from_batch_topk(keras.Sequential())
    with pytest.raises(TypeError, match="initial_threshold"):
        SparseAutoencoder.from_batch_topk(batch_topk, initial_threshold=1.0)
    assert math.isfinite(float(_numpy(batch_topk.selection.threshold)))
