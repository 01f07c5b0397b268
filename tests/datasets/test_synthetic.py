import tracemalloc

import numpy as np
import pytest

from sparsekeras.datasets import (
    PlantedFeatureBatches,
    PlantedFeatures,
    planted_features,
)
from sparsekeras.datasets.synthetic import CONFIGURATIONS


def _generator(**kwargs):
    settings = dict(num_features=128, hidden_dim=24, orthogonalize_steps=5)
    return PlantedFeatures(**{**settings, **kwargs})


def _binomial_tolerance(p, samples, sigmas=5.0):
    return sigmas * np.sqrt(p * (1 - p) / samples) + 1e-9


def test_same_seeds_give_the_same_samples():
    a = _generator(hierarchy_roots=4, correlation_rank=3)
    b = _generator(hierarchy_roots=4, correlation_rank=3)
    np.testing.assert_array_equal(a.feature_vectors, b.feature_vectors)
    for first, second in zip(a.sample(64, 7), b.sample(64, 7), strict=True):
        np.testing.assert_array_equal(first, second)
    assert not np.array_equal(a.sample(64, 7)[1], a.sample(64, 8)[1])
    other = _generator(hierarchy_roots=4, correlation_rank=3, seed=1)
    assert not np.array_equal(other.feature_vectors, a.feature_vectors)


def test_x_is_the_activations_times_the_features_plus_the_bias():
    g = _generator(correlation_rank=2)
    x, a = g.sample(32, seed=0)
    expected = a.astype("float64") @ g.feature_vectors + g.bias_vector
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(g.bias_vector), 0.5, 1e-5)
    np.testing.assert_allclose(
        np.linalg.norm(g.feature_vectors, axis=1), 1.0, rtol=1e-5
    )
    assert x.dtype == a.dtype == np.float32


def test_firing_rates_follow_the_zipf_law():
    g = _generator(p_max=0.3, p_min=0.01)
    p = g.firing_probabilities
    assert p[0] == pytest.approx(0.3) and p[-1] == pytest.approx(0.01)
    assert np.all(np.diff(p) < 0)
    _, a = g.sample(20_000, seed=0)
    rates = (a > 0).mean(axis=0)
    assert np.all(np.abs(rates - p) < _binomial_tolerance(p, 20_000))


def test_correlations_keep_the_firing_rates():
    g = _generator(p_max=0.3, p_min=0.01, correlation_rank=4)
    _, a = g.sample(20_000, seed=0)
    p = g.firing_probabilities
    rates = (a > 0).mean(axis=0)
    assert np.all(np.abs(rates - p) < _binomial_tolerance(p, 20_000))
    assert (a > 0).sum(-1).mean() == pytest.approx(p.sum(), rel=0.02)


def test_correlations_correlate_the_firing():
    plain = _generator(p_max=0.3, p_min=0.05)
    linked = _generator(
        p_max=0.3, p_min=0.05, correlation_rank=2, correlation_scale=0.6
    )

    def spread(g):
        fires = (g.sample(20_000, seed=0)[1] > 0).astype("float64")
        c = np.corrcoef(fires.T)
        return np.abs(c[~np.eye(len(c), dtype=bool)]).mean()

    assert spread(linked) > 3 * spread(plain)


def test_siblings_are_mutually_exclusive_and_need_their_parent():
    g = _generator(
        num_features=200, hierarchy_roots=6, branching=3, hierarchy_depth=2
    )
    _, a = g.sample(5000, seed=0)
    fires = a > 0
    # Breadth first: roots 0-5, their children 6-23, grandchildren 24-77.
    for parent in range(24):
        children = list(range(6 + 3 * parent, 9 + 3 * parent))
        assert fires[:, children].sum(-1).max() <= 1
        assert not np.any(fires[:, children].any(-1) & ~fires[:, parent])
    assert fires[:, 6:78].any()


def test_children_keep_their_rates_where_the_parent_allows():
    g = _generator(
        num_features=400,
        hierarchy_roots=4,
        branching=4,
        hierarchy_depth=1,
        p_max=0.4,
        p_min=0.001,
        exponent=2.0,
    )
    _, a = g.sample(40_000, seed=0)
    p = g.firing_probabilities
    rates = (a[:, :20] > 0).mean(axis=0)
    assert np.all(np.abs(rates - p[:20]) < _binomial_tolerance(p[:20], 40_000))


def test_children_are_scaled_by_their_parent():
    g = _generator(
        num_features=40,
        hierarchy_roots=1,
        branching=2,
        hierarchy_depth=1,
        std_magnitude=(0.0, 0.0),
        mean_magnitude=(4.0, 2.0),
    )
    _, a = g.sample(2000, seed=0)
    child = a[:, 1] + a[:, 2]
    fired = child > 0
    assert fired.any()
    mean = g.mean_magnitudes
    expected = np.where(a[:, 1] > 0, mean[1], mean[2]) * a[:, 0] / mean[0]
    np.testing.assert_allclose(child[fired], expected[fired], rtol=1e-5)


def test_orthogonalisation_lowers_the_overlaps():
    def overlap(steps):
        g = _generator(num_features=64, hidden_dim=16, orthogonalize_steps=0)
        if steps:
            g = PlantedFeatures(
                64, 16, orthogonalize_steps=steps, orthogonalize_lr=0.01
            )
        f = g.feature_vectors
        gram = f @ f.T
        return np.square(gram[~np.eye(64, dtype=bool)]).sum()

    assert overlap(100) < 0.9 * overlap(0)


def test_batches_are_drawn_from_their_index():
    g = _generator(hierarchy_roots=2)
    data = PlantedFeatureBatches(g, 16, num_batches=5, seed=3)
    assert len(data) == 5
    later = data[4]
    np.testing.assert_array_equal(data[0], data[0])
    np.testing.assert_array_equal(later, g.sample(16, seed=(0, 3, 4))[0])
    x, a = g.batches(16, 5, seed=3, with_activations=True)[4]
    np.testing.assert_array_equal(x, later)
    assert a.shape == (16, 128)
    with pytest.raises(IndexError):
        data[5]


def test_streaming_memory_does_not_grow_with_batches():
    data = _generator(num_features=512, hidden_dim=64).batches(256, 200)

    def peak(batches):
        tracemalloc.start()
        for i in range(batches):
            data[i]
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    few, many = peak(5), peak(200)
    assert many < 1.2 * few + 100_000


def test_named_configurations():
    g = planted_features("tiny")
    assert g.feature_vectors.shape == (256, 32)
    big = CONFIGURATIONS["synthsaebench-16k"]
    assert (big["num_features"], big["hidden_dim"]) == (16_384, 768)
    assert (big["hierarchy_roots"], big["correlation_rank"]) == (128, 25)
    with pytest.raises(ValueError, match="name"):
        planted_features("huge")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(p_min=0.5, p_max=0.4), "p_min"),
        (dict(num_features=0), "num_features"),
        (dict(branching=1), "branching"),
        (dict(mean_magnitude=5.0), "mean_magnitude"),
        (dict(correlation_rank=-1), "correlation_rank"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _generator(**kwargs)


def test_batches_need_a_generator():
    with pytest.raises(TypeError, match="generator"):
        PlantedFeatureBatches(np.zeros(3), 4, 4)
