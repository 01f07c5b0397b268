from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from known_inputs import (
    blur,
    digit_labels,
    digit_templates,
    noise_filters,
    one_hot_codes,
    random_codes,
    saturated_sigmoid_codes,
    sigmoid_detector_codes,
    smooth_noise_filters,
    stroke_filters,
    with_surround,
)

from sparsekeras.studies import instruments, pictures

FULL_MNIST = Path(__file__).resolve().parents[3] / "shared/data/mnist.npz"
NAN = float("nan")


def _separable(samples=2500, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=samples)
    codes = 5.0 * np.eye(classes)[labels] + rng.normal(size=(samples, classes))
    return codes, labels


@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, max_side=20),
        elements=st.floats(-10, 10),
    )
)
@settings(max_examples=50, deadline=None)
def test_active_units_counts_entries_above_threshold(codes):
    counts = instruments.active_units(codes, 0.5)
    expected = [sum(abs(v) > 0.5 for v in row) for row in codes]
    np.testing.assert_array_equal(counts, expected)


# Dead units.


def test_units_exactly_zero_on_every_sample_are_dead():
    codes = np.array([[0.0, 1.0, 0.0, 0.2], [0.0, 0.0, 0.0, 0.9]])
    np.testing.assert_array_equal(
        instruments.dead_units(codes), [True, False, True, False]
    )
    assert instruments.dead_unit_fraction(codes) == 0.5
    assert instruments.dead_unit_fraction(np.zeros((3, 4))) == 1.0


def test_saturated_and_constant_sigmoid_units_are_dead():
    dead = instruments.dead_units(saturated_sigmoid_codes())
    np.testing.assert_array_equal(dead, [True, True, True, False, False])


def test_sigmoid_units_that_vary_are_live_though_never_zero():
    codes = sigmoid_detector_codes(digit_labels())
    assert instruments.dead_unit_fraction(codes) == 0.0


def test_dead_rule_does_not_depend_on_the_scale_of_codes():
    codes = saturated_sigmoid_codes()
    for scale in (1e-6, 1.0, 1e6):
        np.testing.assert_array_equal(
            instruments.dead_units(scale * codes), instruments.dead_units(codes)
        )


def test_dead_tolerance_sets_how_little_variation_is_dead():
    codes = np.array([[0.0, 0.0], [1.0, 0.05]])
    assert instruments.dead_unit_fraction(codes, tolerance=0.01) == 0.0
    assert instruments.dead_unit_fraction(codes, tolerance=0.1) == 0.5


@pytest.mark.parametrize("bad", [NAN, np.inf, -np.inf])
def test_non_finite_units_are_not_counted_as_dead(bad):
    codes = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, bad]])
    np.testing.assert_array_equal(
        instruments.dead_units(codes), [True, False, False]
    )
    assert np.isnan(instruments.dead_unit_fraction(codes))


# Class selectivity.


def test_one_hot_class_codes_have_selectivity_one():
    labels = digit_labels()
    selectivity = instruments.class_selectivity(one_hot_codes(labels), labels)
    np.testing.assert_allclose(selectivity, 1.0)


def test_codes_independent_of_the_class_have_selectivity_near_chance():
    labels = digit_labels()
    selectivity = instruments.class_selectivity(random_codes(), labels)
    assert 0.1 <= np.min(selectivity) and np.max(selectivity) < 0.14
    assert abs(np.mean(selectivity) - 0.1) < 0.02


def test_sigmoid_unit_on_for_one_digit_scores_high_above_its_baseline():
    labels = digit_labels()
    codes = sigmoid_detector_codes(labels)
    assert np.min(instruments.class_selectivity(codes, labels)) > 0.8


def test_selectivity_does_not_depend_on_class_frequencies():
    rng = np.random.default_rng(0)
    labels = np.concatenate([np.zeros(1800, int), rng.integers(1, 10, 200)])
    selectivity = instruments.class_selectivity(random_codes(), labels)
    assert np.max(selectivity) < 0.2


def test_a_unit_without_mass_above_its_baseline_scores_chance():
    labels = np.array([0, 1, 2, 3])
    codes = np.ones((4, 1))
    np.testing.assert_allclose(
        instruments.class_selectivity(codes, labels), 0.25
    )


def test_mean_selectivity_averages_live_units_only():
    labels = digit_labels()
    codes = np.concatenate(
        [one_hot_codes(labels), np.full((len(labels), 5), 0.5)], axis=1
    )
    assert instruments.mean_class_selectivity(codes, labels) == 1.0


def test_non_finite_codes_give_nan_selectivity():
    labels = digit_labels()
    codes = random_codes()
    codes[7, 3] = NAN
    selectivity = instruments.class_selectivity(codes, labels)
    assert np.isnan(selectivity[3])
    assert np.all(np.isfinite(np.delete(selectivity, 3)))
    assert np.isnan(instruments.mean_class_selectivity(codes, labels))


@pytest.mark.parametrize(
    "codes, labels, message",
    [
        (np.zeros((4, 2)), np.zeros(3, int), "labels"),
        (np.zeros((4, 2)), np.zeros(4), "labels"),
        (np.zeros((4, 2)), -np.ones(4, int), "labels"),
        (np.zeros(4), np.zeros(4, int), r"codes.shape=\(4,\)"),
    ],
)
def test_selectivity_rejects_mismatched_input(codes, labels, message):
    with pytest.raises(ValueError, match=message):
        instruments.class_selectivity(codes, labels)


# Filters: smoothness, extent, kinds.


def test_filter_smoothness_separates_pixel_noise_from_smooth_filters():
    assert abs(instruments.filter_smoothness(noise_filters())) < 0.05
    assert instruments.filter_smoothness(smooth_noise_filters()) > 0.8
    assert instruments.filter_smoothness(stroke_filters()) > 0.8


def test_filter_smoothness_of_constant_filters_is_zero_not_nan():
    assert instruments.filter_smoothness(np.ones((784, 3))) == 0.0


def test_filter_smoothness_of_nan_filters_is_nan_not_zero():
    assert np.isnan(instruments.filter_smoothness(np.full((784, 3), NAN)))
    weights = noise_filters(units=3)
    weights[10, 1] = NAN
    per_filter = instruments.filter_smoothness(weights, per_filter=True)
    np.testing.assert_array_equal(np.isnan(per_filter), [False, True, False])


def test_strokes_are_local_templates_are_spread_noise_is_everywhere():
    strokes = instruments.filter_extent(stroke_filters())
    templates = instruments.filter_extent(digit_templates(per_class=5))
    noise = np.concatenate(
        [
            instruments.filter_extent(noise_filters()),
            instruments.filter_extent(smooth_noise_filters()),
        ]
    )
    assert np.max(strokes) < instruments.STROKE_MAX_EXTENT < np.min(templates)
    assert np.max(templates) < instruments.TEMPLATE_MAX_EXTENT < np.min(noise)


@pytest.mark.parametrize(
    "weights, kind",
    [
        (noise_filters(), "noise"),
        (smooth_noise_filters(), "noise"),
        (stroke_filters(), "stroke"),
        (stroke_filters(width=0.7), "stroke"),
        (stroke_filters(seed=1, width=1.5), "stroke"),
        (stroke_filters(seed=2, noise=0.1), "stroke"),
        (with_surround(stroke_filters(seed=4)), "stroke"),
        (with_surround(stroke_filters(seed=5), share=0.7), "stroke"),
        (digit_templates(per_class=5), "template"),
        (np.full((784, 4), 0.3), "flat"),
        (np.full((784, 4), NAN), "non-finite"),
    ],
    ids=[
        "noise",
        "smooth_noise",
        "strokes",
        "thin_strokes",
        "wide_strokes",
        "noisy_strokes",
        "strokes_with_inhibitory_surround",
        "strokes_with_strong_inhibitory_surround",
        "templates",
        "flat",
        "nan",
    ],
)
def test_filter_kinds_recognise_known_filters(weights, kind):
    kinds = instruments.filter_kinds(weights)
    assert set(kinds) == {kind}


def test_excitatory_extent_sees_the_stroke_inside_an_inhibitory_surround():
    surrounded = with_surround(stroke_filters())
    whole = instruments.filter_extent(surrounded)
    excitatory = instruments.filter_extent(surrounded, part="excitatory")
    assert np.min(whole) > instruments.STROKE_MAX_EXTENT
    assert np.max(excitatory) < instruments.STROKE_MAX_EXTENT
    np.testing.assert_allclose(
        instruments.filter_extent(stroke_filters(), part="excitatory"),
        instruments.filter_extent(stroke_filters()),
    )
    with pytest.raises(ValueError, match="part"):
        instruments.filter_extent(stroke_filters(), part="positive")


def test_stroke_fraction_counts_strokes_among_filters():
    mixed = np.concatenate(
        [stroke_filters(units=30), digit_templates(), noise_filters(10)],
        axis=1,
    )
    assert instruments.stroke_fraction(mixed) == 0.6
    mixed[0, 0] = NAN
    assert np.isnan(instruments.stroke_fraction(mixed))


@pytest.mark.parametrize(
    "measure",
    [
        instruments.filter_smoothness,
        instruments.filter_extent,
        instruments.filter_kinds,
        instruments.stroke_fraction,
        pictures.tile_filters,
    ],
)
def test_every_filter_measure_refuses_transposed_filters(measure):
    with pytest.raises(ValueError, match=r"one filter of `filter_shape` per"):
        measure(noise_filters(units=100).T)


def test_filter_measures_accept_a_keras_variable():
    weights = stroke_filters(units=5)
    variable = keras.Variable(weights.astype("float32"))
    np.testing.assert_array_equal(
        instruments.filter_kinds(variable), instruments.filter_kinds(weights)
    )


# Sharpness and convergence.


def test_sharpness_drops_when_images_are_blurred():
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(10, 784))
    assert (
        instruments.sharpness(blur(images)) < instruments.sharpness(images) / 2
    )


def test_sharpness_of_non_finite_images_is_nan():
    images = np.zeros((2, 784))
    images[1, 5] = np.inf
    assert np.isnan(instruments.sharpness(images))


@pytest.mark.parametrize(
    "costs, epoch",
    [
        ([5.0, 3.0, 2.0, 1.04, 1.0], 4),
        ([1.0, 1.0, 1.0], 1),
        ([10.0, 1.02, 3.0, 1.0], 2),
        ([7.0], 1),
    ],
)
def test_convergence_epoch_is_first_epoch_within_five_percent(costs, epoch):
    assert instruments.convergence_epoch(costs) == epoch


@pytest.mark.parametrize(
    "costs", [[1.0, 0.5, NAN], [NAN, 1.0], [1.0, np.inf, 0.5], [-np.inf]]
)
def test_convergence_epoch_of_a_diverged_run_is_nan(costs):
    assert np.isnan(instruments.convergence_epoch(costs))


@pytest.mark.parametrize(
    "costs, tolerance, message",
    [([], 0.05, "costs"), ([[1.0]], 0.05, "costs"), ([1.0], -1, "tolerance")],
)
def test_convergence_epoch_rejects_bad_arguments(costs, tolerance, message):
    with pytest.raises(ValueError, match=message):
        instruments.convergence_epoch(costs, tolerance)


# Linear probe.


def test_linear_probe_reads_separable_codes_and_not_random_labels():
    codes, labels = _separable()
    shuffled = np.random.default_rng(1).permutation(labels)
    readable = instruments.linear_probe_accuracy(
        codes[:2000], labels[:2000], codes[2000:], labels[2000:]
    )
    unreadable = instruments.linear_probe_accuracy(
        codes[:2000], shuffled[:2000], codes[2000:], shuffled[2000:]
    )
    assert readable > 0.95
    assert unreadable < 0.45


def test_probe_converges_and_does_not_depend_on_its_tolerance():
    codes, labels = _separable(samples=1000, classes=4)
    loose = instruments.LinearProbe(codes, labels)
    tight = instruments.LinearProbe(codes, labels, tolerance=1e-8)
    assert loose.converged and tight.converged
    assert tight.gradient_max <= 1e-8
    np.testing.assert_allclose(loose.weights, tight.weights, atol=0.1)
    np.testing.assert_array_equal(loose.predict(codes), tight.predict(codes))


def test_probe_gives_the_same_answer_for_backend_tensors():
    codes, labels = _separable(samples=600)
    tensor_probe = instruments.LinearProbe(
        keras.ops.convert_to_tensor(codes.astype("float32")),
        keras.ops.convert_to_tensor(labels),
    )
    numpy_probe = instruments.LinearProbe(codes.astype("float32"), labels)
    np.testing.assert_array_equal(tensor_probe.weights, numpy_probe.weights)


def test_probe_standardises_features_so_scale_does_not_matter():
    codes, labels = _separable(samples=600)
    probe = instruments.LinearProbe(codes, labels)
    for scale in (1e-4, 1e4):
        scaled = instruments.LinearProbe(scale * codes, labels)
        np.testing.assert_allclose(scaled.weights, probe.weights, rtol=1e-6)
    each = codes * np.array([1e-4, 1.0, 1e4])
    standardised = instruments.LinearProbe(each, labels, scale_floor=0.0)
    np.testing.assert_array_equal(
        standardised.predict(each), probe.predict(codes)
    )


def test_probe_magnifies_nearly_constant_features_less_with_a_floor():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 1000)
    codes = 2.0 * np.eye(2)[labels] + rng.normal(size=(1000, 2))
    # Twenty features, each 1 on one hard sample of class 1 and 0 elsewhere,
    # like border pixels that are ink in one training image.
    hard = np.flatnonzero((labels == 1) & (codes[:, 1] < codes[:, 0]))[:20]
    rare = np.zeros((1000, 20))
    rare[hard, np.arange(20)] = 1.0
    codes = np.concatenate([codes, rare], axis=1)
    faint = codes + np.r_[0.0, 0.0, np.full(20, 0.05)]
    floored = instruments.LinearProbe(codes, labels)
    plain = instruments.LinearProbe(codes, labels, scale_floor=0.0)
    assert (
        floored.accuracy(faint, labels) > plain.accuracy(faint, labels) + 0.05
    )


def test_probe_ignores_constant_features():
    codes, labels = _separable(samples=600)
    padded = np.concatenate([codes, np.full((600, 2), 3.0)], axis=1)
    probe = instruments.LinearProbe(padded, labels)
    assert probe.converged
    np.testing.assert_allclose(probe.weights[3:], 0.0, atol=1e-12)
    assert probe.accuracy(padded, labels) > 0.95


def test_probe_predicts_the_labels_it_was_given():
    codes, labels = _separable(samples=300, classes=2)
    gapped = np.where(labels == 1, 7, 2)
    probe = instruments.LinearProbe(codes, gapped)
    assert probe.converged
    assert set(probe.predict(codes)) == {2, 7}


@pytest.mark.parametrize("bad", [NAN, np.inf])
@pytest.mark.parametrize("argument", ["train_codes", "test_codes"])
def test_probe_refuses_non_finite_codes_naming_them(argument, bad):
    codes, labels = _separable(samples=100)
    arrays = {"train_codes": codes.copy(), "test_codes": codes.copy()}
    arrays[argument][3, 1] = bad
    with pytest.raises(ValueError, match=f"`{argument}`, expected finite"):
        instruments.linear_probe_accuracy(
            arrays["train_codes"], labels, arrays["test_codes"], labels
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"l2": -1.0}, "l2"),
        ({"l2": 0.0}, "l2"),
        ({"tolerance": 0.0}, "tolerance"),
        ({"max_iterations": 0}, "max_iterations"),
        ({"scale_floor": -0.1}, "scale_floor"),
        ({"labels": np.zeros(5, int)}, "labels"),
    ],
)
def test_probe_rejects_bad_arguments(kwargs, message):
    codes, labels = _separable(samples=100)
    kwargs = {"labels": labels, **kwargs}
    with pytest.raises(ValueError, match=message):
        instruments.LinearProbe(codes, **kwargs)


@pytest.mark.slow
@pytest.mark.skipif(not FULL_MNIST.exists(), reason="full MNIST not present")
def test_probe_reaches_92_percent_on_raw_pixels_of_full_mnist():
    with np.load(FULL_MNIST) as data:
        x_train, y_train = data["x_train"], data["y_train"]
        x_test, y_test = data["x_test"], data["y_test"]
    accuracy = instruments.linear_probe_accuracy(
        x_train.reshape(len(x_train), -1) / 255.0,
        y_train,
        x_test.reshape(len(x_test), -1) / 255.0,
        y_test,
    )
    assert accuracy >= 0.92


def test_nearest_neighbour_reader_reads_the_closest_training_image():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(50, 16)).astype("float32")
    labels = rng.integers(0, 10, size=50)
    reader = instruments.NearestNeighbourReader(images, labels)
    queries = rng.uniform(size=(1200, 16)).astype("float32")
    exact = np.argmin(
        ((queries[:, None, :] - images[None]) ** 2).sum(-1), axis=1
    )
    # 1200 queries span two chunks of the reader's distance computation.
    np.testing.assert_array_equal(reader.predict(queries), labels[exact])
    assert reader.accuracy(images, labels) == 1.0


def test_nearest_neighbour_reader_reads_noisy_digits_and_not_shuffled_ones():
    rng = np.random.default_rng(1)
    prototypes = rng.uniform(size=(10, 64)) > 0.7
    labels = rng.integers(0, 10, size=400)
    images = prototypes[labels].astype("float32")
    reader = instruments.NearestNeighbourReader(images[:200], labels[:200])
    noisy = np.clip(images[200:] + rng.normal(0, 0.3, (200, 64)), 0, 1)
    assert reader.accuracy(noisy, labels[200:]) > 0.95
    shuffled = images[200:][:, rng.permutation(64)]
    assert reader.accuracy(shuffled, labels[200:]) < 0.4


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nearest_neighbour_reader_refuses_non_finite_images(bad):
    images = np.eye(3, dtype="float32")
    images[0, 0] = bad
    with pytest.raises(ValueError, match="images"):
        instruments.NearestNeighbourReader(images, [0, 1, 2])
    reader = instruments.NearestNeighbourReader(np.eye(3), [0, 1, 2])
    with pytest.raises(ValueError, match="images"):
        reader.predict(images)
    with pytest.raises(ValueError, match="3 pixels"):
        reader.predict(np.zeros((2, 4)))


def test_probe_takes_no_seed_since_its_fit_is_deterministic():
    codes, labels = _separable(samples=100, classes=2)
    with pytest.raises(TypeError, match="seed"):
        instruments.LinearProbe(codes, labels, seed=0)
