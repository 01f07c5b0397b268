import tracemalloc

import numpy as np
import pytest
import scipy.special

from sparsekeras.datasets import (
    PlantedFeatureBatches,
    PlantedFeatures,
    planted_features,
)
from sparsekeras.datasets.synthetic import (
    CONFIGURATIONS,
    _bernoulli_positions,
)


def _generator(**kwargs):
    settings = dict(num_features=128, hidden_dim=24, orthogonalize_steps=5)
    return PlantedFeatures(**{**settings, **kwargs})


def _binomial_tolerance(p, samples, sigmas=5.0):
    return sigmas * np.sqrt(p * (1 - p) / samples) + 1e-9


def _dense_reference(g, batch_size, rng):
    """The generator's definition drawn densely and slowly: one `eta` and
    one magnitude per feature and sample, the hierarchy on the dense array
    (the sampler before it drew sparsely)."""
    n = g.num_features
    noise = rng.standard_normal((batch_size, n))
    if g.correlation_rank:
        shared = rng.standard_normal((batch_size, g.correlation_rank))
        noise = noise * g._diagonal + shared @ g._factor
    magnitudes = g.mean_magnitudes + g.std_magnitudes * rng.standard_normal(
        (batch_size, n)
    )
    a = np.where(noise > g._thresholds, np.maximum(magnitudes, 0.0), 0.0)
    for children, parents, _ in g._levels:
        parent = a[:, parents]
        siblings = (a[:, children] * (parent > 0)).reshape(
            batch_size, -1, g.branching
        )
        keys = np.where(siblings > 0, rng.random(siblings.shape), -1.0)
        kept = np.zeros(siblings.shape, bool)
        np.put_along_axis(kept, keys.argmax(-1)[..., None], True, -1)
        child = (siblings * kept).reshape(batch_size, -1)
        if g.scale_children_by_parent:
            child *= parent / g.mean_magnitudes[parents]
        a[:, children] = child
    return a


def _fires(g, samples, reference=False, batch=5000):
    """Which features fire, `(samples, num_features)` booleans."""
    rng = np.random.default_rng(123)
    return np.concatenate(
        [
            (
                _dense_reference(g, batch, rng)
                if reference
                else g.sample(batch, seed=(9, i))[1]
            )
            > 0
            for i in range(samples // batch)
        ]
    )


def _linked(g, fires, among=None):
    """Per row, the co-firing weighted by the latent correlations `L L^T`
    (signed: the pairs' correlations cancel in a plain count), of the
    features `among` (default: all) with every other feature:
    `sum_{i in among, j != i} f_i f_j L_i.L_j`, through the rank-r `L`."""
    factor = g._factor.T.astype("float64")
    fires = fires.astype("float64")
    chosen, loadings = fires, factor
    if among is not None:
        chosen, loadings = fires[:, among], factor[among]
    both = np.einsum("br,br->b", chosen @ loadings, fires @ factor)
    return both - chosen @ np.square(loadings).sum(axis=1)


def _assert_cofires_like_the_reference(g, among=None, samples=40_000):
    """`_linked` co-firing of `among` agrees with the dense reference's
    to 5 standard errors; returns both draws' firings."""
    ours = _fires(g, samples)
    reference = _fires(g, samples, reference=True)
    a = _linked(g, ours, among=among)
    b = _linked(g, reference, among=among)
    assert abs(a.mean() - b.mean()) < 5 * _error(a, b)
    return ours, reference


def _error(a, b):
    """The standard error of `a.mean() - b.mean()`."""
    return np.hypot(a.std(), b.std()) / np.sqrt(len(a))


def _assert_same_rates(rates, expected, samples, other_samples=None):
    """Per-feature firing rates agree with `expected` (exact or, with
    `other_samples`, measured): no feature beyond 5.5 sigmas, and the sum
    of squared z-scores within 6 of its standard deviations of `n`."""
    variance = expected * (1 - expected) / samples
    if other_samples:
        variance += expected * (1 - expected) / other_samples
    z = (rates - expected) / np.sqrt(variance + 1e-12)
    n = len(z)
    assert np.abs(z).max() < 5.5, np.abs(z).argmax()
    assert np.square(z).sum() < n + 6 * np.sqrt(2 * n)


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
    g = _generator(correlation_rank=2, hierarchy_roots=4)
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


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(correlation_rank=0),
        dict(correlation_rank=3),
        dict(correlation_rank=2, correlation_scale=0.6),
        dict(correlation_rank=3, p_max=0.02, p_min=0.002),
        dict(correlation_rank=0, p_max=0.02, p_min=0.002),
        dict(correlation_rank=3, p_max=0.6, p_min=0.3),
    ],
)
def test_every_feature_fires_at_its_rate_hot_cold_or_dense(kwargs):
    g = _generator(
        **{"num_features": 256, "p_max": 0.4, "p_min": 0.002, **kwargs}
    )
    # A feature fires when the copula says so and its magnitude is > 0.
    positive = scipy.special.ndtr(g.mean_magnitudes / g.std_magnitudes)
    expected = g.firing_probabilities * positive
    rates = _fires(g, 40_000).mean(axis=0)
    _assert_same_rates(rates, expected, 40_000)


def test_the_sampler_draws_dense_hot_and_cold_features():
    # The rates test above covers each regime only if they all occur.
    g = _generator(num_features=256, p_max=0.4, p_min=0.002)
    assert len(g._dense) and len(g._blocks)
    linked = _generator(num_features=256, correlation_rank=2)
    assert len(linked._dense) and len(linked._blocks)
    assert min(level for _, _, level in linked._blocks) < 2.0


def test_correlated_firing_matches_the_dense_reference():
    g = _generator(
        num_features=96,
        p_max=0.4,
        p_min=0.005,
        correlation_rank=2,
        correlation_scale=0.6,
    )
    ours = _fires(g, 40_000).astype("float64")
    reference = _fires(g, 40_000, reference=True).astype("float64")
    _assert_same_rates(ours.mean(0), reference.mean(0), 40_000, 40_000)
    # Co-firing of the most frequent pairs, and of whole groups per row.
    both = (reference.T @ reference) / len(reference)
    pairs = np.argsort(np.triu(both, 1), axis=None)[-50:]
    ours_both = ((ours.T @ ours) / len(ours)).ravel()[pairs]
    _assert_same_rates(ours_both, both.ravel()[pairs], 40_000, 40_000)
    a, b = _linked(g, ours), _linked(g, reference)
    assert abs(a.mean() - b.mean()) < 5 * _error(a, b)
    # ... where independent firing lies far off.
    plain = _generator(num_features=96, p_max=0.4, p_min=0.005)
    a = _linked(g, _fires(plain, 40_000))
    assert abs(a.mean() - b.mean()) > 20 * _error(a, b)


def test_hierarchy_with_correlations_matches_the_dense_reference():
    g = _generator(
        num_features=200,
        hierarchy_roots=6,
        branching=3,
        hierarchy_depth=2,
        correlation_rank=3,
        correlation_scale=0.4,
    )
    ours, reference = _assert_cofires_like_the_reference(g)
    _assert_same_rates(ours.mean(0), reference.mean(0), 40_000, 40_000)


def test_rare_features_tail_draws_cofire_with_their_own_row():
    # Most of a rare feature's firings come from the tail positions
    # (`eta > h` drawn where the cut `c >= h`), each reading `c` of its own
    # row; read from another row, the rates stay right but those firings
    # lose the row's shared factor. Rank 1 with a small scale makes the
    # tail carry firings that rise with the factor.
    g = _generator(
        num_features=256,
        p_min=0.002,
        correlation_rank=1,
        correlation_scale=0.2,
    )
    assert len(g._blocks) and len(g._sparse) > 200
    # Standard error sqrt(0.96^2 + 0.95^2) / sqrt(40,000) = 0.0068 (the
    # rows' std): the sparse sampler lies 1.2 of it off, with another
    # row's cut 14 (-0.09 in the mean).
    _assert_cofires_like_the_reference(g, among=g._sparse)


def test_children_cofire_with_their_own_row():
    # A child's copula cut uses the shared factor of its parent's row;
    # another row's would keep its rate but not its co-firing with the
    # rest of its row. Branching 2 under many roots leaves every sibling
    # block uncertain (raised rates below 1), so each draws its copula.
    g = _generator(
        num_features=256,
        p_min=0.002,
        hierarchy_roots=32,
        branching=2,
        hierarchy_depth=2,
        correlation_rank=1,
        correlation_scale=0.3,
    )
    assert len(g._tree) == 2
    assert all(uncertain.all() for *_, uncertain in g._tree)
    children = np.concatenate([c for c, _, _ in g._levels])
    # Standard error sqrt(1.94^2 + 1.91^2) / sqrt(40,000) = 0.014 (the
    # rows' std): the sparse sampler lies 1.5 of it off, with another
    # row's shared factor 32 or more (-0.37 in the mean).
    ours, _ = _assert_cofires_like_the_reference(g, among=children)
    assert ours[:, children].mean() > 0.01


def test_no_feature_fires_twice_in_a_row():
    # The hot (`c < h`) and tail (`c >= h`) positions of a sparse feature
    # are disjoint: both reading the row's own cut, they never both fire
    # one (row, feature), which `sample` would silently overwrite.
    g = _generator(num_features=256, p_min=0.002, correlation_rank=2)
    assert len(g._blocks)
    rows, columns, _ = g._draw(20_000, seed=0)
    keys = rows.astype("int64") * g.num_features + columns
    assert len(np.unique(keys)) == len(keys)


def test_magnitudes_have_their_mean_and_spread():
    g = _generator(
        num_features=64, p_max=0.4, p_min=0.05, std_magnitude=(1.0, 0.0)
    )
    a = np.concatenate([g.sample(5000, seed=i)[1] for i in range(4)])
    for i in range(64):
        values = a[:, i][a[:, i] > 0]
        assert len(values) > 500
        error = 5 / np.sqrt(len(values))
        assert abs(values.mean() - g.mean_magnitudes[i]) < error
        assert abs(values.std() - 1.0) < 2 * error


def test_bernoulli_positions_draw_more_gaps_when_the_first_fall_short():
    class Ones:
        def geometric(self, p, size):
            return np.ones(size, "int64")

    positions = _bernoulli_positions(Ones(), 1000, 0.01)
    np.testing.assert_array_equal(positions, np.arange(1000))
    rng = np.random.default_rng(0)
    counts = [len(_bernoulli_positions(rng, 1000, 0.02)) for _ in range(400)]
    assert np.mean(counts) == pytest.approx(20, abs=5 * np.sqrt(20 / 400))


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


@pytest.mark.parametrize("rank", [0, 3])
def test_siblings_are_mutually_exclusive_and_need_their_parent(rank):
    g = _generator(
        num_features=200,
        hierarchy_roots=6,
        branching=3,
        hierarchy_depth=2,
        correlation_rank=rank,
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


@pytest.mark.parametrize("rank", [0, 3])
def test_children_are_scaled_by_their_parent(rank):
    g = _generator(
        correlation_rank=rank,
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
