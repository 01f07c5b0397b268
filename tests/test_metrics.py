import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sparsekeras import metrics


def _blur(images):
    images = images.reshape(-1, 28, 28)
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
    out = sum(
        padded[:, 1 + dy : 29 + dy, 1 + dx : 29 + dx]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )
    return (out / 9.0).reshape(len(images), -1)


@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, max_side=20),
        elements=st.floats(-10, 10),
    )
)
@settings(max_examples=50, deadline=None)
def test_active_units_counts_entries_above_threshold(codes):
    counts = metrics.active_units(codes, 0.5)
    expected = [sum(abs(v) > 0.5 for v in row) for row in codes]
    np.testing.assert_array_equal(counts, expected)


def test_dead_unit_fraction_counts_units_never_active():
    codes = np.array([[0.0, 1.0, 0.0, 0.2], [0.0, 0.0, 0.0, 0.9]])
    assert metrics.dead_unit_fraction(codes) == 0.5
    assert metrics.dead_unit_fraction(codes, threshold=0.5) == 0.5
    assert metrics.dead_unit_fraction(np.zeros((3, 4))) == 1.0


def test_filter_smoothness_separates_noise_from_strokes():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(784, 50))
    strokes = _blur(_blur(rng.normal(size=(50, 784)))).T
    assert abs(metrics.filter_smoothness(noise)) < 0.05
    assert metrics.filter_smoothness(strokes) > 0.8


def test_filter_smoothness_of_constant_filters_is_zero_not_nan():
    assert metrics.filter_smoothness(np.ones((784, 3))) == 0.0


def test_sharpness_drops_when_images_are_blurred():
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(10, 784))
    assert metrics.sharpness(_blur(images)) < metrics.sharpness(images) / 2


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
    assert metrics.convergence_epoch(costs) == epoch


def test_convergence_epoch_rejects_empty_costs():
    with pytest.raises(ValueError, match="costs"):
        metrics.convergence_epoch([])


def test_linear_probe_reads_separable_codes_and_not_random_labels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=2500)
    codes = 5.0 * np.eye(3)[labels] + rng.normal(size=(2500, 3))
    shuffled = rng.permutation(labels)
    readable = metrics.linear_probe_accuracy(
        codes[:2000], labels[:2000], codes[2000:], labels[2000:], epochs=10
    )
    unreadable = metrics.linear_probe_accuracy(
        codes[:2000], shuffled[:2000], codes[2000:], shuffled[2000:], epochs=10
    )
    assert readable > 0.95
    assert unreadable < 0.45
