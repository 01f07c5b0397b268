import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekeras.layers import NeuralSparseCoding

from helpers import check_keras_round_trip, run_layer_test

NO_TRAINABLE_WEIGHTS = pytest.mark.filterwarnings(
    "ignore:The model does not have any trainable weights"
)


def _unit_columns(matrix):
    return matrix / np.linalg.norm(matrix, axis=0, keepdims=True)


def _layer_with(dictionary, **kwargs):
    layer = NeuralSparseCoding(dictionary.shape[1], **kwargs)
    layer.build((None, dictionary.shape[0]))
    layer.dictionary.assign(dictionary)
    return layer


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _reference_codes(
    signals, dictionary, threshold=None, k=None, refine_steps=0
):
    correlations = signals @ dictionary
    if k is None:
        kept = np.abs(correlations) >= threshold
    else:
        order = np.argsort(-np.abs(correlations), axis=1, kind="stable")
        kept = np.zeros(correlations.shape, bool)
        np.put_along_axis(kept, order[:, :k], True, axis=1)
    codes = np.where(kept, correlations, 0.0)
    rate = _refinement_rate(kept, dictionary)
    for _ in range(refine_steps):
        residuals = signals - codes @ dictionary.T
        codes = np.where(kept, codes + rate * (residuals @ dictionary), 0.0)
    return codes


def _refinement_rate(kept, dictionary):
    """1 / (the Gershgorin bound on each row's kept atoms' Gram matrix)."""
    gram = np.abs(dictionary.T @ dictionary)
    bounds = [
        gram[np.ix_(row, row)].sum(axis=1).max() if row.any() else 0.0
        for row in kept
    ]
    return np.array([[1.0 / b if b else 0.0] for b in bounds])


def _reference_step(signals, dictionary, codes, eta, update, normalize):
    residuals = signals - codes @ dictionary.T
    hebbian = np.sign(codes) if update == "neural" else codes
    stepped = dictionary + eta * residuals.T @ hebbian / len(signals)
    return _unit_columns(stepped) if normalize else stepped


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    # Few shapes, since JAX compiles every op anew for each shape it sees.
    batch=st.sampled_from([1, 5]),
    input_dim=st.sampled_from([3, 6]),
    units=st.sampled_from([4, 9]),
    use_k=st.booleans(),
    update=st.sampled_from(["neural", "olshausen_field"]),
    normalize=st.booleans(),
    eta=st.floats(0.01, 3.0),
)
def test_training_call_matches_numpy_reference(
    seed, batch, input_dim, units, use_k, update, normalize, eta
):
    rng = np.random.default_rng(seed)
    dictionary = _unit_columns(rng.standard_normal((input_dim, units)))
    dictionary = dictionary.astype("float32")
    signals = rng.standard_normal((batch, input_dim)).astype("float32")
    decoder = (
        {"k": int(rng.integers(1, units + 1))}
        if use_k
        else {"threshold": float(rng.uniform(0.1, 1.0))}
    )
    layer = _layer_with(
        dictionary,
        learning_rate=eta,
        update=update,
        normalize=normalize,
        **decoder,
    )

    codes = _numpy(layer(signals, training=True))

    expected_codes = _reference_codes(signals, dictionary, **decoder)
    np.testing.assert_allclose(codes, expected_codes, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        _numpy(layer.dictionary),
        _reference_step(
            signals, dictionary, expected_codes, eta, update, normalize
        ),
        rtol=1e-4,
        atol=1e-5,
    )


def test_training_returns_codes_of_the_dictionary_before_the_step():
    rng = np.random.default_rng(0)
    layer = NeuralSparseCoding(8, k=3)
    signals = rng.standard_normal((5, 4)).astype("float32")
    inference_codes = _numpy(layer(signals))
    before = _numpy(layer.dictionary)

    training_codes = _numpy(layer(signals, training=True))

    np.testing.assert_array_equal(training_codes, inference_codes)
    assert not np.allclose(_numpy(layer.dictionary), before)


@pytest.mark.parametrize("training", [False, None])
def test_inference_leaves_dictionary_unchanged(training):
    rng = np.random.default_rng(1)
    layer = NeuralSparseCoding(8, threshold=0.1)
    signals = rng.standard_normal((5, 4)).astype("float32")
    layer(signals)
    before = _numpy(layer.dictionary)

    layer(signals, training=training)

    np.testing.assert_array_equal(_numpy(layer.dictionary), before)


def test_frozen_layer_keeps_its_dictionary_in_training():
    rng = np.random.default_rng(2)
    layer = NeuralSparseCoding(8, k=2)
    signals = rng.standard_normal((5, 4)).astype("float32")
    layer(signals)
    before = _numpy(layer.dictionary)
    layer.trainable = False

    layer(signals, training=True)

    np.testing.assert_array_equal(_numpy(layer.dictionary), before)


def test_dictionary_is_the_only_weight_and_not_trainable():
    inputs = keras.Input((6,))
    layer = NeuralSparseCoding(10, k=2)
    model = keras.Model(inputs, layer(inputs))

    assert model.trainable_weights == []
    assert [w.path for w in model.non_trainable_weights] == [
        layer.dictionary.path
    ]
    assert layer.dictionary.dtype == "float32"


@NO_TRAINABLE_WEIGHTS
def test_fit_step_changes_dictionary_by_the_rule_alone():
    rng = np.random.default_rng(3)
    dictionary = _unit_columns(rng.standard_normal((6, 10))).astype("float32")
    signals = rng.standard_normal((16, 6)).astype("float32")
    # A loss whose gradient would move the dictionary far, if it reached it.
    targets = 100.0 * rng.standard_normal((16, 10)).astype("float32")
    layer = _layer_with(dictionary, k=3, learning_rate=0.7)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.SGD(10.0), loss="mse")

    model.fit(signals, targets, batch_size=16, epochs=1, verbose=0)

    codes = _reference_codes(signals, dictionary, k=3)
    np.testing.assert_allclose(
        _numpy(layer.dictionary),
        _reference_step(signals, dictionary, codes, 0.7, "neural", True),
        rtol=1e-4,
        atol=1e-5,
    )


def test_trains_after_a_trainable_layer():
    rng = np.random.default_rng(13)
    signals = rng.standard_normal((16, 6)).astype("float32")
    dense = keras.layers.Dense(6, kernel_initializer="identity")
    coding = NeuralSparseCoding(10, k=3, output_mode="reconstruction")
    model = keras.Sequential([keras.Input((6,)), dense, coding])
    model.compile(optimizer="sgd", loss="mse")
    kernel, dictionary = _numpy(dense.kernel), _numpy(coding.dictionary)

    model.fit(signals, signals, batch_size=16, epochs=1, verbose=0)

    assert not np.allclose(_numpy(dense.kernel), kernel)
    assert not np.allclose(_numpy(coding.dictionary), dictionary)


def test_top_k_codes_have_exactly_k_nonzeros_per_row():
    rng = np.random.default_rng(4)
    layer = NeuralSparseCoding(32, k=5)
    signals = rng.standard_normal((20, 12)).astype("float32")

    codes = _numpy(layer(signals, training=True))

    np.testing.assert_array_equal(np.count_nonzero(codes, axis=1), 5)


def test_top_k_keeps_largest_magnitudes_and_breaks_ties_by_lower_index():
    layer = _layer_with(np.eye(4, dtype="float32"), k=2)
    signals = np.array(
        [[1.0, 1.0, 1.0, 1.0], [0.5, -1.0, 1.0, -1.0]], dtype="float32"
    )

    codes = _numpy(layer(signals))

    np.testing.assert_array_equal(
        codes, [[1.0, 1.0, 0.0, 0.0], [0.0, -1.0, 1.0, 0.0]]
    )


def test_threshold_zeroes_entries_of_smaller_magnitude():
    layer = _layer_with(np.eye(4, dtype="float32"), threshold=0.5)
    signals = np.array([[0.4, -0.6, 0.5, -0.2]], dtype="float32")

    codes = _numpy(layer(signals))

    np.testing.assert_array_equal(
        codes, np.array([[0.0, -0.6, 0.5, 0.0]], dtype="float32")
    )


def test_decode_is_codes_times_dictionary_transpose():
    rng = np.random.default_rng(5)
    layer = NeuralSparseCoding(9, k=3)
    layer.build((None, 7))
    codes = rng.standard_normal((4, 9)).astype("float32")

    decoded = _numpy(layer.decode(codes))

    assert decoded.shape == (4, 7)
    np.testing.assert_allclose(
        decoded, codes @ _numpy(layer.dictionary).T, rtol=1e-5, atol=1e-6
    )


def test_reconstruction_output_decodes_the_codes():
    rng = np.random.default_rng(6)
    signals = rng.standard_normal((4, 7)).astype("float32")
    dictionary = _unit_columns(rng.standard_normal((7, 9))).astype("float32")
    codes_layer = _layer_with(dictionary, k=3)
    layer = _layer_with(dictionary, k=3, output_mode="reconstruction")

    reconstruction = _numpy(layer(signals))

    assert reconstruction.shape == (4, 7)
    assert layer.compute_output_shape((None, 7)) == (None, 7)
    assert codes_layer.compute_output_shape((None, 7)) == (None, 9)
    np.testing.assert_allclose(
        reconstruction,
        _numpy(codes_layer.decode(codes_layer(signals))),
        rtol=1e-5,
        atol=1e-6,
    )


@NO_TRAINABLE_WEIGHTS
@pytest.mark.parametrize(
    "init_kwargs, output_dim",
    [
        ({"units": 12, "threshold": 0.2}, 12),
        (
            {
                "units": 12,
                "k": 3,
                "learning_rate": 0.5,
                "normalize": False,
                "update": "olshausen_field",
                "output_mode": "reconstruction",
                "dictionary_initializer": keras.initializers.serialize(
                    keras.initializers.RandomUniform(seed=7)
                ),
            },
            6,
        ),
    ],
)
def test_passes_run_layer_test(init_kwargs, output_dim, tmp_path):
    input_data = np.random.default_rng(8).standard_normal((5, 6))
    run_layer_test(
        NeuralSparseCoding,
        init_kwargs,
        input_data.astype("float32"),
        expected_output_shape=(5, output_dim),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=1,
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize(
    "policy", ["float32", "mixed_float16", "mixed_bfloat16"]
)
def test_learns_in_float32_under_every_dtype_policy(policy):
    rng = np.random.default_rng(9)
    # Quarters are exact in float16 and bfloat16, so every policy sees the
    # same signals and must take the same float32 step.
    signals = (rng.integers(-8, 9, size=(16, 6)) / 4).astype("float32")
    dictionary = _unit_columns(rng.standard_normal((6, 10))).astype("float32")
    reference = _layer_with(dictionary, k=3)
    layer = NeuralSparseCoding(10, k=3, dtype=policy)
    layer.build((None, 6))
    layer.dictionary.assign(dictionary)

    outputs = layer(signals, training=True)
    reference(signals, training=True)

    assert keras.backend.standardize_dtype(outputs.dtype) == (
        keras.DTypePolicy(policy).compute_dtype
    )
    assert np.all(np.isfinite(_numpy(keras.ops.cast(outputs, "float32"))))
    learned = _numpy(layer.dictionary)
    assert learned.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(learned, axis=0), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        learned, _numpy(reference.dictionary), rtol=1e-5, atol=1e-6
    )


def test_initial_dictionary_has_unit_norm_columns_from_a_seeded_initializer():
    initializer = keras.initializers.RandomUniform(seed=11)
    first = NeuralSparseCoding(20, k=2, dictionary_initializer=initializer)
    second = NeuralSparseCoding(20, k=2, dictionary_initializer=initializer)
    first.build((None, 5))
    second.build((None, 5))

    np.testing.assert_allclose(
        np.linalg.norm(_numpy(first.dictionary), axis=0), 1.0, rtol=1e-5
    )
    np.testing.assert_array_equal(
        _numpy(first.dictionary), _numpy(second.dictionary)
    )


@NO_TRAINABLE_WEIGHTS
def test_survives_keras_round_trip_after_training(tmp_path):
    rng = np.random.default_rng(12)
    signals = rng.standard_normal((64, 6)).astype("float32")
    inputs = keras.Input((6,))
    layer = NeuralSparseCoding(
        10, threshold=0.3, learning_rate=0.5, output_mode="reconstruction"
    )
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer="sgd", loss="mse")
    initial = _numpy(layer.dictionary)
    model.fit(signals, signals, batch_size=16, epochs=2, verbose=0)
    assert not np.allclose(_numpy(layer.dictionary), initial)

    loaded = check_keras_round_trip(
        model, signals, str(tmp_path / "neural_sparse_coding.keras")
    )

    assert loaded.layers[-1].get_config() == layer.get_config()


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"units": 0, "k": 1}, ValueError, "units"),
        ({"units": 2.0, "k": 1}, TypeError, "units"),
        ({"units": 4, "threshold": 0.0}, ValueError, "threshold"),
        ({"units": 4, "threshold": -1.0}, ValueError, "threshold"),
        ({"units": 4, "threshold": "big"}, TypeError, "threshold"),
        ({"units": 4, "k": 0}, ValueError, "k"),
        ({"units": 4, "k": 1.5}, TypeError, "k"),
        ({"units": 4, "k": 5}, ValueError, "k"),
        ({"units": 4}, ValueError, "threshold`.*`k"),
        ({"units": 4, "threshold": 0.5, "k": 2}, ValueError, "threshold`.*`k"),
        (
            {"units": 4, "k": 2, "learning_rate": 0.0},
            ValueError,
            "learning_rate",
        ),
        (
            {"units": 4, "k": 2, "learning_rate": -1},
            ValueError,
            "learning_rate",
        ),
        (
            {"units": 4, "k": 2, "learning_rate": "fast"},
            TypeError,
            "learning_rate",
        ),
        (
            {"units": 4, "k": 2, "learning_rate": float("nan")},
            ValueError,
            "learning_rate",
        ),
        ({"units": 4, "k": 2, "refine_steps": -1}, ValueError, "refine_steps"),
        ({"units": 4, "k": 2, "refine_steps": 1.0}, TypeError, "refine_steps"),
        (
            {"units": 4, "k": 2, "refine_steps": True},
            TypeError,
            "refine_steps",
        ),
        ({"units": 4, "k": 2, "normalize": 1}, TypeError, "normalize"),
        (
            {"units": 4, "k": 2, "dictionary_initializer": None},
            ValueError,
            "dictionary_initializer",
        ),
        ({"units": 4, "k": 2, "update": "hebb"}, ValueError, "update"),
        (
            {"units": 4, "k": 2, "output_mode": "sparse"},
            ValueError,
            "output_mode",
        ),
    ],
)
def test_invalid_argument_raises_naming_it(kwargs, error, name):
    with pytest.raises(error, match=f"`{name}`"):
        NeuralSparseCoding(**kwargs)


@pytest.mark.parametrize(
    "learning_rate, message",
    [
        ({"class_name": "Nope", "config": {}}, "class 'Nope' is not a known"),
        (
            keras.optimizers.schedules.ExponentialDecay(
                float("nan"), decay_steps=1, decay_rate=0.5
            ),
            r"learning_rate\(0\)=nan",
        ),
        (
            keras.optimizers.schedules.PolynomialDecay(-0.5, decay_steps=10),
            r"learning_rate\(0\)=-0.5",
        ),
        (
            keras.optimizers.schedules.serialize(
                keras.optimizers.schedules.ExponentialDecay(
                    1e39, decay_steps=1, decay_rate=0.5
                )
            ),
            r"learning_rate\(0\)",
        ),
    ],
    ids=["unknown-class", "nan", "negative", "overflow"],
)
def test_unusable_schedule_is_refused_at_construction(learning_rate, message):
    with pytest.raises(ValueError, match=f"`learning_rate`.*{message}"):
        NeuralSparseCoding(4, k=2, learning_rate=learning_rate)


@pytest.mark.parametrize(
    "input_shape, message",
    [((None, 3, 4), "rank 2"), ((None, None), "input_dim")],
)
def test_build_rejects_unusable_input_shapes(input_shape, message):
    with pytest.raises(ValueError, match=message):
        NeuralSparseCoding(4, k=1).build(input_shape)


def _three_rates():
    """Rates 2, 0.5 and 0.1 at steps 0, 1 and 2 (then 0.1 on)."""
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries=[0, 1], values=[2.0, 0.5, 0.1]
    )


def _scheduled_steps(dictionary, batches, k):
    expected = dictionary
    for batch, eta in zip(batches, (2.0, 0.5, 0.1), strict=False):
        codes = _reference_codes(batch, expected, k=k)
        expected = _reference_step(batch, expected, codes, eta, "neural", True)
    return expected


def test_schedule_sets_the_rate_of_each_training_step():
    rng = np.random.default_rng(13)
    dictionary = _unit_columns(rng.standard_normal((6, 10))).astype("float32")
    batches = [rng.standard_normal((5, 6)).astype("float32") for _ in range(3)]
    layer = _layer_with(dictionary, k=3, learning_rate=_three_rates())

    for batch in batches:
        layer(batch, training=True)

    np.testing.assert_allclose(
        _numpy(layer.dictionary),
        _scheduled_steps(dictionary, batches, k=3),
        rtol=1e-4,
        atol=1e-5,
    )
    assert int(_numpy(layer.step)) == 3


@NO_TRAINABLE_WEIGHTS
def test_schedule_moves_on_inside_a_compiled_fit():
    rng = np.random.default_rng(14)
    dictionary = _unit_columns(rng.standard_normal((6, 10))).astype("float32")
    signals = rng.standard_normal((12, 6)).astype("float32")
    layer = _layer_with(dictionary, k=3, learning_rate=_three_rates())
    inputs = keras.Input((6,))
    model = keras.Model(inputs, layer(inputs))
    model.compile(loss="mse")
    targets = np.zeros((12, 10), "float32")

    model.fit(signals, targets, batch_size=4, shuffle=False, verbose=0)

    np.testing.assert_allclose(
        _numpy(layer.dictionary),
        _scheduled_steps(dictionary, np.split(signals, 3), k=3),
        rtol=1e-4,
        atol=1e-5,
    )
    assert int(_numpy(layer.step)) == 3


def test_inference_and_frozen_calls_leave_the_step_alone():
    signals = np.random.default_rng(15).standard_normal((5, 4))
    layer = NeuralSparseCoding(8, k=2, learning_rate=_three_rates())
    layer(signals.astype("float32"))
    layer.trainable = False
    layer(signals.astype("float32"), training=True)

    assert int(_numpy(layer.step)) == 0


def test_only_a_scheduled_layer_has_a_step():
    constant = NeuralSparseCoding(8, k=2, learning_rate=0.5)
    scheduled = NeuralSparseCoding(8, k=2, learning_rate=_three_rates())
    constant.build((None, 4))
    scheduled.build((None, 4))

    assert not hasattr(constant, "step")
    assert [w.name for w in scheduled.non_trainable_weights] == [
        "dictionary",
        "step",
    ]


def test_scheduled_layer_passes_run_layer_test(tmp_path):
    schedule = keras.optimizers.schedules.InverseTimeDecay(
        4.0, decay_steps=2, decay_rate=1.0
    )
    input_data = np.random.default_rng(16).standard_normal((5, 6))
    run_layer_test(
        NeuralSparseCoding,
        {
            "units": 12,
            "k": 3,
            "learning_rate": keras.optimizers.schedules.serialize(schedule),
            "refine_steps": 2,
        },
        input_data.astype("float32"),
        expected_output_shape=(5, 12),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=2,
        tmp_path=tmp_path,
    )


@NO_TRAINABLE_WEIGHTS
def test_schedule_and_step_survive_keras_round_trip(tmp_path):
    signals = np.random.default_rng(17).standard_normal((32, 6))
    signals = signals.astype("float32")
    schedule = keras.optimizers.schedules.InverseTimeDecay(
        4.0, decay_steps=2, decay_rate=1.0
    )
    inputs = keras.Input((6,))
    layer = NeuralSparseCoding(
        10, threshold=0.3, learning_rate=schedule, output_mode="reconstruction"
    )
    model = keras.Model(inputs, layer(inputs))
    model.compile(loss="mse")
    model.fit(signals, signals, batch_size=8, verbose=0)

    loaded = check_keras_round_trip(
        model, signals, str(tmp_path / "scheduled.keras")
    )

    revived = loaded.layers[-1]
    assert isinstance(
        revived.learning_rate, keras.optimizers.schedules.InverseTimeDecay
    )
    assert revived.learning_rate.get_config() == schedule.get_config()
    assert int(_numpy(revived.step)) == 4


@NO_TRAINABLE_WEIGHTS
def test_resumed_training_continues_the_schedule(tmp_path):
    rng = np.random.default_rng(18)
    dictionary = _unit_columns(rng.standard_normal((6, 10))).astype("float32")
    signals = rng.standard_normal((12, 6)).astype("float32")
    layer = _layer_with(dictionary, k=3, learning_rate=_three_rates())
    inputs = keras.Input((6,))
    model = keras.Model(inputs, layer(inputs))
    model.compile(loss="mse")
    targets = np.zeros((12, 10), "float32")
    model.fit(signals[:8], targets[:8], batch_size=4, shuffle=False, verbose=0)
    model.save(tmp_path / "halfway.keras")

    resumed = keras.saving.load_model(tmp_path / "halfway.keras")
    resumed.fit(signals[8:], targets[8:], batch_size=4, verbose=0)

    revived = resumed.layers[-1]
    assert int(_numpy(revived.step)) == 3
    np.testing.assert_allclose(
        _numpy(revived.dictionary),
        _scheduled_steps(dictionary, np.split(signals, 3), k=3),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "decoder", [{"k": 3}, {"threshold": 0.4}], ids=["top_k", "threshold"]
)
@pytest.mark.parametrize("refine_steps", [1, 3])
def test_refined_codes_and_step_match_numpy_reference(decoder, refine_steps):
    rng = np.random.default_rng(19)
    dictionary = _unit_columns(rng.standard_normal((16, 12))).astype("float32")
    signals = rng.standard_normal((7, 16)).astype("float32")
    layer = _layer_with(
        dictionary, learning_rate=0.8, refine_steps=refine_steps, **decoder
    )

    codes = _numpy(layer(signals, training=True))

    expected = _reference_codes(
        signals, dictionary, refine_steps=refine_steps, **decoder
    )
    np.testing.assert_allclose(codes, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        _numpy(layer.dictionary),
        _reference_step(signals, dictionary, expected, 0.8, "neural", True),
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        _numpy(layer.encode(signals)),
        _reference_codes(
            signals,
            _numpy(layer.dictionary),
            refine_steps=refine_steps,
            **decoder,
        ),
        rtol=1e-4,
        atol=1e-5,
    )


def test_refinement_converges_to_least_squares_codes_on_the_support():
    rng = np.random.default_rng(20)
    dictionary = _unit_columns(rng.standard_normal((64, 32))).astype("float32")
    support = [3, 17, 25]
    signals = (dictionary[:, support] @ [1.5, -1.0, 2.0])[None].astype(
        "float32"
    )
    one_step = _layer_with(dictionary, k=3)
    refined = _layer_with(dictionary, k=3, refine_steps=30)

    codes = _numpy(refined(signals))

    assert np.flatnonzero(codes[0]).tolist() == support
    np.testing.assert_allclose(codes[0, support], [1.5, -1.0, 2.0], atol=1e-4)
    cross_talk = _numpy(one_step(signals))[0, support] - [1.5, -1.0, 2.0]
    assert np.abs(cross_talk).max() > 0.05


def test_refined_schedule_recovers_closer_than_a_constant_rate():
    truth, start, signals = _synthetic_problem(
        seed=2, input_dim=64, units=128, k=2
    )
    batches = [signals(256) for _ in range(20)]
    constant = _layer_with(start, k=2, learning_rate=16.0)
    scheduled = _layer_with(
        start,
        k=2,
        learning_rate=keras.optimizers.schedules.InverseTimeDecay(
            32.0, decay_steps=6, decay_rate=1.0
        ),
    )
    refined = _layer_with(
        start,
        k=2,
        learning_rate=keras.optimizers.schedules.InverseTimeDecay(
            32.0, decay_steps=12, decay_rate=1.0
        ),
        refine_steps=2,
    )

    for batch in batches:
        for layer in (constant, scheduled, refined):
            layer(batch, training=True)

    errors = {
        name: _column_errors(layer.dictionary, truth).mean()
        for name, layer in [
            ("constant", constant),
            ("scheduled", scheduled),
            ("refined", refined),
        ]
    }
    assert errors["scheduled"] < 0.85 * errors["constant"], errors
    assert errors["refined"] < 0.5 * errors["scheduled"], errors


def _synthetic_problem(seed, input_dim=512, units=1024, k=4, delta=0.3):
    """A* with random unit atoms, and a start A0 at column distance ~delta.

    Returns A*, A0 and a function drawing `count` signals `y = A* x*`, each
    `x*` with `k` nonzeros of random sign and magnitude in [1, 2].
    """
    rng = np.random.default_rng(seed)
    truth = _unit_columns(rng.standard_normal((input_dim, units)))
    noise = rng.standard_normal((input_dim, units))
    start = _unit_columns(truth + delta * noise / np.linalg.norm(noise, axis=0))

    def signals(count):
        support = np.argsort(rng.random((count, units)), axis=1)[:, :k]
        values = rng.uniform(1.0, 2.0, (count, k)) * rng.choice(
            [-1, 1], (count, k)
        )
        atoms = truth.T[support]  # (count, k, input_dim)
        return np.einsum("ck,ckd->cd", values, atoms).astype("float32")

    return truth.astype("float32"), start.astype("float32"), signals


def _column_errors(dictionary, truth):
    """||a_i - a*_i|| under the identity matching, each atom's sign matched."""
    dictionary = _numpy(dictionary)
    signs = np.sign(np.sum(dictionary * truth, axis=0))
    return np.linalg.norm(dictionary * signs - truth, axis=0)


# The threshold 0.5 sits between the cross-talk and the true codes: an atom
# off the support sees about sqrt(k) * rms|x*| / sqrt(n) = 2 * 1.53 / 22.6,
# a standard deviation of 0.14 (0.5 is 3.7 of them), while a true code is at
# least |x*_i| * <a_i, a*_i> >= 1 * (1 - 0.3**2 / 2) ~ 0.96 at the start
# (0.5 is 3.3 of them below).
SYNTHETIC_THRESHOLD = 0.5


@pytest.mark.slow
def test_default_learning_rate_recovers_a_known_dictionary():
    truth, start, signals = _synthetic_problem(seed=0)
    layer = _layer_with(start, threshold=SYNTHETIC_THRESHOLD)
    assert _column_errors(layer.dictionary, truth).min() > 0.25

    for _ in range(400):
        layer(signals(128), training=True)

    errors = _column_errors(layer.dictionary, truth)
    assert errors.max() < 0.1
    assert errors.mean() < 0.06


@pytest.mark.slow
@NO_TRAINABLE_WEIGHTS
def test_fit_recovers_a_known_dictionary_and_lowers_the_loss():
    truth, start, signals = _synthetic_problem(seed=1)
    layer = _layer_with(
        start,
        threshold=SYNTHETIC_THRESHOLD,
        learning_rate=4.0,
        output_mode="reconstruction",
    )
    inputs = keras.Input((truth.shape[0],))
    model = keras.Model(inputs, layer(inputs))
    model.compile(loss="mse")
    held_out = signals(1024)
    loss_before = model.evaluate(held_out, held_out, verbose=0)
    # Fresh signals for every batch: an atom is active in only 1 of 256.
    training = signals(100 * 256)

    history = model.fit(training, training, batch_size=256, verbose=0)

    assert _column_errors(layer.dictionary, truth).max() < 0.1
    loss_after = model.evaluate(held_out, held_out, verbose=0)
    assert loss_after < history.history["loss"][0] < loss_before
    assert loss_after < 0.25 * loss_before


def test_encode_gives_inference_codes_and_leaves_dictionary_alone():
    rng = np.random.default_rng(3)
    dictionary = rng.normal(size=(6, 9)).astype("float32")
    dictionary /= np.linalg.norm(dictionary, axis=0)
    signals = rng.normal(size=(5, 6)).astype("float32")
    layer = _layer_with(dictionary, k=2, output_mode="reconstruction")
    codes = _numpy(layer.encode(signals))
    np.testing.assert_allclose(
        codes, _reference_codes(signals, dictionary, k=2), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        _numpy(layer.decode(codes)),
        _numpy(layer(signals)),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_array_equal(_numpy(layer.dictionary), dictionary)


def _least_squares_codes(signals, dictionary, kept):
    """Each row's least-squares codes on its kept atoms (minimum norm)."""
    codes = np.zeros(kept.shape)
    for row, (signal, support) in enumerate(zip(signals, kept, strict=True)):
        atoms = dictionary[:, support].astype("float64")
        codes[row, support] = np.linalg.lstsq(atoms, signal, rcond=None)[0]
    return codes


def _coherent_atoms():
    """The issue's three atoms: e1 and two at angle 0.3 from it."""
    c, s = np.cos(0.3), np.sin(0.3)
    return np.array([[1, c, c], [0, s, 0], [0, 0, s]], "float32")


def test_refinement_of_coherent_atoms_approaches_least_squares():
    dictionary = _coherent_atoms()
    assert np.linalg.eigvalsh(dictionary.T @ dictionary).max() > 2.8
    signal = np.array([[1.0, 0.0, 0.0]], "float32")
    least_squares = np.array([1.0, 0.0, 0.0])

    distances = []
    for steps in (0, 2, 30, 3000):
        layer = _layer_with(dictionary, k=3, refine_steps=steps)
        codes = _numpy(layer(signal))[0]
        assert np.all(np.isfinite(codes)) and np.abs(codes).max() <= 1.0
        distances.append(np.linalg.norm(codes - least_squares))

    assert distances == sorted(distances, reverse=True), distances
    assert distances[-1] < 1e-3 < distances[0] - 1.0, distances


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    input_dim=st.sampled_from([4, 16]),
    units=st.sampled_from([8, 24]),
    k=st.integers(1, 6),
    steps=st.sampled_from([1, 4, 20]),
    coherence=st.floats(0.0, 3.0),
)
def test_refinement_never_moves_away_from_least_squares(
    seed, input_dim, units, k, steps, coherence
):
    # A shared component makes the atoms as coherent as `coherence` asks.
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((input_dim, units)) + coherence * (
        rng.standard_normal((input_dim, 1))
    )
    dictionary = _unit_columns(raw).astype("float32")
    signals = rng.standard_normal((5, input_dim)).astype("float32")
    one_step = _numpy(_layer_with(dictionary, k=k)(signals))
    kept = one_step != 0
    least_squares = _least_squares_codes(signals, dictionary, kept)

    refined = _numpy(_layer_with(dictionary, k=k, refine_steps=steps)(signals))

    before = np.linalg.norm(one_step - least_squares, axis=1)
    after = np.linalg.norm(refined - least_squares, axis=1)
    assert np.all(after <= before * (1 + 1e-4) + 1e-4), (before, after)
    assert np.all(refined[~kept] == 0)


@pytest.mark.parametrize(
    "units, initializer",
    [
        (5, "identity"),
        (3, "zeros"),
        (3, keras.initializers.Constant(float("nan"))),
        (3, keras.initializers.Constant(float("inf"))),
    ],
    ids=["identity", "zeros", "nan", "inf"],
)
def test_initializer_without_unit_norm_atoms_is_refused_at_build(
    units, initializer
):
    layer = NeuralSparseCoding(units, k=1, dictionary_initializer=initializer)
    with pytest.raises(ValueError, match="`dictionary_initializer`.*norm"):
        layer.build((None, 3))


def test_huge_initial_atoms_are_scaled_to_unit_norm():
    layer = NeuralSparseCoding(
        4, k=1, dictionary_initializer=keras.initializers.Constant(1e30)
    )
    layer.build((None, 3))
    norms = np.linalg.norm(_numpy(layer.dictionary), axis=0)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-6)


@pytest.mark.parametrize("normalize", [True, False])
def test_overflowing_step_leaves_atoms_finite_and_unit_norm(normalize):
    layer = NeuralSparseCoding(4, k=2, learning_rate=3e38, normalize=normalize)
    layer.build((None, 3))
    before = _numpy(layer.dictionary)

    layer(np.full((2, 3), 1e30, "float32"), training=True)

    after = _numpy(layer.dictionary)
    assert np.all(np.isfinite(after))
    np.testing.assert_allclose(np.linalg.norm(after, axis=0), 1.0, rtol=1e-6)
    # The atoms the step reached overflow, and stay as they were.
    np.testing.assert_allclose(after, before, rtol=1e-6)


@pytest.mark.parametrize("input_dim", [2, 6])
def test_refuses_an_input_of_another_width_once_built(input_dim):
    layer = NeuralSparseCoding(4, k=1)
    layer(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 .* value 3"):
        layer(np.ones((2, input_dim), "float32"))


@pytest.mark.parametrize("training", [True, False])
def test_refined_codes_of_an_empty_batch_are_empty(training):
    layer = NeuralSparseCoding(4, k=2, refine_steps=2)
    layer.build((None, 3))
    before = _numpy(layer.dictionary)

    codes = layer(np.zeros((0, 3), "float32"), training=training)

    assert _numpy(codes).shape == (0, 4)
    np.testing.assert_allclose(_numpy(layer.dictionary), before, rtol=1e-6)


def test_masked_rows_get_zero_codes_and_do_not_move_the_dictionary():
    rng = np.random.default_rng(3)
    signals = rng.standard_normal((4, 5)).astype("float32")
    padded = np.concatenate([signals, np.full((2, 5), 50.0, "float32")])
    mask = np.array([True] * 4 + [False] * 2)
    masked, unpadded = NeuralSparseCoding(6, k=2), NeuralSparseCoding(6, k=2)
    masked.build((None, 5))
    unpadded.build((None, 5))
    unpadded.dictionary.assign(masked.dictionary)

    codes = _numpy(masked(padded, training=True, mask=mask))
    expected = _numpy(unpadded(signals, training=True))

    np.testing.assert_array_equal(codes[4:], 0.0)
    np.testing.assert_allclose(codes[:4], expected, rtol=1e-6)
    np.testing.assert_allclose(
        _numpy(masked.dictionary), _numpy(unpadded.dictionary), atol=1e-6
    )


def test_passes_a_mask_through_without_warning():
    inputs = keras.Input((5,))
    masked = keras.layers.Masking(mask_value=50.0)(inputs)
    codes = NeuralSparseCoding(6, k=2)(masked)
    assert tuple(codes.shape) == (None, 6)
