"""Planted features: activations built from known feature vectors.

`PlantedFeatures` is SynthSAEBench's generator (Chanin & Garriga-Alonso,
2026; SAELens's `sae_lens.synthetic.SyntheticModel`) in NumPy: a
dictionary of unit feature vectors, a bias, and feature activations with
Zipfian firing rates, a hierarchy, low-rank correlations and per-feature
magnitudes. `PlantedFeatureBatches` streams its samples to `fit` as a
`keras.utils.PyDataset`, drawing each batch from its index, so no training
set is ever held. See [Measuring feature recovery](feature-recovery.md).
"""

import math

import keras
import numpy as np
import scipy.sparse
import scipy.special

from sparsekeras._validation import check_bool, check_float, check_int


class PlantedFeatures:
    """A planted-feature generator: `x = a F + b` with known `a` and `F`.

    Feature i fires with probability p_i, Zipfian in its index i,

        p_i = p_min + (p_max - p_min) (i^-s - n^-s) / (1 - n^-s),

    through a Gaussian copula whose correlation is `L L^T + diag(1 - |L_i|^2)`
    with `L` of rank `correlation_rank`, entries `N(0, correlation_scale^2)`:
    it fires where `eta_i > c_i = (t_i - (L eps)_i) / d_i`, `eta` and `eps`
    standard normal, `d_i = sqrt(1 - |L_i|^2)`, `t_i = Phi^-1(1 - q_i)`,
    `q_i` the rate p_i raised for the hierarchy (below).
    The draw is sparse and exact: `eta_i` is drawn where `c_i < h_i` and
    elsewhere only at the Bernoulli(`Phi(-h_i)`) positions where it can
    exceed `h_i` (from the normal's tail), a child only where its parent
    fired. A firing feature takes `relu(m_i + sigma_i z)`, `m_i` linear from
    `mean_magnitude` to `end`, `sigma_i = |N(std_mean, std_spread^2)|`.
    The first `hierarchy_roots` features are roots of trees, `branching`
    children per node, `hierarchy_depth` levels below the roots, numbered
    breadth first: a child fires only if its parent does, siblings are
    mutually exclusive (one of the firing ones, uniformly), a child's value
    is scaled by its parent's over the parent's mean magnitude, and the
    children's rates are raised so each feature keeps its rate p_i. The
    feature vectors (rows of `F`) are Gaussian, orthogonalised by
    `orthogonalize_steps` Adam steps on `sum_{i!=j} (f_i.f_j)^2 +
    n sum_i (|f_i|^2 - 1)^2`, then unit-normed; `b` has norm `bias`.

    Args:
        num_features: positive integer, the true features.
        hidden_dim: positive integer, the size of `x`.
        exponent: Zipf exponent `s` > 0, default 0.5.
        p_max: the first feature's firing rate, default 0.4.
        p_min: the last feature's firing rate, default 5e-4.
        hierarchy_roots: integer >= 0 (default 0: no hierarchy).
        branching: integer >= 2, children per parent, default 4.
        hierarchy_depth: integer >= 1, levels below the roots, default 3.
        scale_children_by_parent: bool, default `True`.
        correlation_rank: integer >= 0 (default 0: independent firing).
        correlation_scale: number >= 0, default 0.1.
        orthogonalize_steps: integer >= 0, default 100.
        orthogonalize_lr: number > 0, default 3e-4.
        mean_magnitude: `(start, end)`, default `(5.0, 4.0)`.
        std_magnitude: `(mean, std)` of the folded normal, default
            `(0.5, 0.5)`.
        bias: number >= 0, the norm of `b`, default 0.5.
        seed: integer, default 42: the same seed, the same generator.

    Attributes:
        feature_vectors: float32 array `(num_features, hidden_dim)`, `F`.
        bias_vector: float32 array `(hidden_dim,)`, `b`.
        firing_probabilities: float64 array `(num_features,)`, `p`.

    Example:

    >>> from sparsekeras.datasets import PlantedFeatures
    >>> g = PlantedFeatures(64, 16, hierarchy_roots=2, correlation_rank=3)
    >>> x, a = g.sample(8, seed=0)
    >>> x.shape, a.shape
    ((8, 16), (8, 64))

    Reference:
        - [Chanin & Garriga-Alonso, 2026. SynthSAEBench: evaluating sparse
          autoencoders on scalable realistic synthetic data](
          https://arxiv.org/abs/2602.14687)
    """

    def __init__(
        self,
        num_features,
        hidden_dim,
        *,
        exponent=0.5,
        p_max=0.4,
        p_min=5e-4,
        hierarchy_roots=0,
        branching=4,
        hierarchy_depth=3,
        scale_children_by_parent=True,
        correlation_rank=0,
        correlation_scale=0.1,
        orthogonalize_steps=100,
        orthogonalize_lr=3e-4,
        mean_magnitude=(5.0, 4.0),
        std_magnitude=(0.5, 0.5),
        bias=0.5,
        seed=42,
    ):
        self.num_features = check_int("num_features", num_features, minimum=1)
        self.hidden_dim = check_int("hidden_dim", hidden_dim, minimum=1)
        self.exponent = check_float(
            "exponent", exponent, minimum=0.0, exclusive=True
        )
        self.p_max = check_float("p_max", p_max, minimum=0.0, maximum=1.0)
        self.p_min = check_float("p_min", p_min, minimum=0.0, maximum=1.0)
        if not 0 < self.p_min < self.p_max:
            raise ValueError(
                "Invalid values for `p_min` and `p_max`, expected "
                f"0 < p_min < p_max <= 1. Received: p_min={p_min!r}, "
                f"p_max={p_max!r}"
            )
        self.hierarchy_roots = check_int(
            "hierarchy_roots", hierarchy_roots, minimum=0
        )
        self.branching = check_int("branching", branching, minimum=2)
        self.hierarchy_depth = check_int(
            "hierarchy_depth", hierarchy_depth, minimum=1
        )
        self.scale_children_by_parent = check_bool(
            "scale_children_by_parent", scale_children_by_parent
        )
        self.correlation_rank = check_int(
            "correlation_rank", correlation_rank, minimum=0
        )
        self.correlation_scale = check_float(
            "correlation_scale", correlation_scale, minimum=0.0
        )
        self.orthogonalize_steps = check_int(
            "orthogonalize_steps", orthogonalize_steps, minimum=0
        )
        self.orthogonalize_lr = check_float(
            "orthogonalize_lr", orthogonalize_lr, minimum=0.0, exclusive=True
        )
        self.mean_magnitude = _pair("mean_magnitude", mean_magnitude, 0.0)
        self.std_magnitude = _pair("std_magnitude", std_magnitude, None)
        self.bias = check_float("bias", bias, minimum=0.0)
        self.seed = check_int("seed", seed, minimum=0)
        self._build()

    def _build(self):
        n = self.num_features
        streams = np.random.SeedSequence(self.seed).spawn(4)
        dictionary_rng, magnitude_rng, correlation_rng, bias_rng = (
            np.random.default_rng(s) for s in streams
        )
        self.firing_probabilities = _zipf(
            n, self.exponent, self.p_max, self.p_min
        )
        self.mean_magnitudes = np.linspace(*self.mean_magnitude, n)
        mean, spread = self.std_magnitude
        self.std_magnitudes = np.abs(
            mean + spread * magnitude_rng.standard_normal(n)
        )
        self._levels, self._groups = _hierarchy(
            n, self.hierarchy_roots, self.branching, self.hierarchy_depth
        )
        base = _compensated(self.firing_probabilities, self._groups)
        # The Gaussian copula's thresholds, `t = Phi^-1(1 - q)`.
        self._thresholds = -scipy.special.ndtri(
            np.minimum(base, 1 - 1e-12)
        ).astype("float32")
        self._base_probabilities = base
        rank = self.correlation_rank
        squares = np.zeros(n)
        if rank:
            factor = self.correlation_scale * correlation_rng.standard_normal(
                (n, rank)
            )
            squares = np.square(factor).sum(axis=1)
            if squares.max() > 0.99:
                factor *= math.sqrt(0.99 / squares.max())
                squares = np.square(factor).sum(axis=1)
            self._factor = factor.T.astype("float32")
            self._diagonal = np.sqrt(1 - squares).astype("float32")
            # `c = [eps, 1] W` is the copula's cut `(t - L eps) / d`.
            self._weights = np.concatenate(
                [-self._factor, self._thresholds[None]]
            ) / self._diagonal.astype("float32")
        self._plan_sampling(np.sqrt(squares))
        vectors = dictionary_rng.standard_normal((n, self.hidden_dim))
        self.feature_vectors = _orthogonalized(
            vectors.astype("float32"),
            self.orthogonalize_steps,
            self.orthogonalize_lr,
        )
        direction = bias_rng.standard_normal(self.hidden_dim)
        self.bias_vector = (
            self.bias * direction / np.linalg.norm(direction)
        ).astype("float32")
        self._means32 = self.mean_magnitudes.astype("float32")
        self._stds32 = self.std_magnitudes.astype("float32")

    def _plan_sampling(self, spread):
        """Splits the features for `_draw`: dense, sparse blocks, trees."""
        n = self.num_features
        is_child = np.zeros(n, bool)
        self._tree = []
        for children, parents, groups in self._levels:
            is_child[children] = True
            weights = None
            if self.correlation_rank:
                weights = self._weights[:, children].T.reshape(
                    len(groups), self.branching, -1
                )
            # A child whose raised rate is 1 fires wherever its parent
            # does: its block draws no copula unless a sibling's is < 1.
            uncertain = self._base_probabilities[groups].min(axis=1) < 1
            self._tree.append(
                (
                    int(parents[0]),
                    len(groups),
                    int(children[0]),
                    weights,
                    uncertain,
                )
            )
        free = np.flatnonzero(~is_child)
        thresholds = self._thresholds[free].astype("float64")
        diagonal = np.sqrt(1 - np.square(spread[free]))
        levels = _sampling_levels(
            thresholds / diagonal, spread[free] / diagonal
        )
        dense = np.isnan(levels)
        self._dense = free[dense]
        order = np.argsort(levels[~dense], kind="stable")
        self._sparse = free[~dense][order]
        levels = levels[~dense][order]
        bounds = np.flatnonzero(np.diff(levels)) + 1
        starts = np.concatenate([[0], bounds]).astype(int)
        stops = np.concatenate([bounds, [len(levels)]]).astype(int)
        self._blocks = [
            (int(a), int(b), float(levels[a]))
            for a, b in zip(starts, stops, strict=True)
            if b > a
        ]
        self._sparse_levels = levels.astype("float32")
        if self.correlation_rank:
            self._sparse_weights = np.ascontiguousarray(
                self._weights[:, self._sparse]
            )

    def sample(self, batch_size, seed):
        """Draws `(x, true_activations)` for `batch_size` samples.

        Args:
            batch_size: positive integer.
            seed: integer or tuple of integers; with the generator's own
                seed, it fixes the draw.

        Returns:
            `x`, float32 `(batch_size, hidden_dim)`, and the feature
            activations `a`, float32 `(batch_size, num_features)`.
        """
        rows, columns, values = self._draw(batch_size, seed)
        activations = np.zeros((batch_size, self.num_features), "float32")
        activations[rows, columns] = values
        return self._product(batch_size, rows, columns, values), activations

    def _sample_x(self, batch_size, seed):
        """`sample`'s `x` alone, without the dense activations."""
        return self._product(batch_size, *self._draw(batch_size, seed))

    def _draw(self, batch_size, seed):
        """The firing features as `(rows, columns, values)`, sparsely.

        The copula fires feature i where `d_i eta_i + s_i > t_i`, i.e.
        `eta_i > c_i = (t_i - s_i) / d_i`, `s = L eps`, `eta` and `eps`
        standard normal: `c = [eps, 1] W` in one product, for the
        features outside the trees only. A hierarchy's child is drawn
        only where its parent fired (its own `eta` and magnitude are
        independent of everything before), so the rest of the work grows
        with the firing features, not with `num_features`.
        """
        check_int("batch_size", batch_size, minimum=1)
        seed = tuple(np.atleast_1d(seed).tolist())
        rng = np.random.default_rng((self.seed, *seed))
        shared = None
        if self.correlation_rank:
            shared = np.ones((batch_size, self.correlation_rank + 1), "float32")
            shared[:, :-1] = rng.standard_normal(
                (batch_size, self.correlation_rank), dtype="float32"
            )
        rows, columns = self._fire_free(batch_size, shared, rng)
        values = rng.standard_normal(len(rows), dtype="float32")
        values *= self._stds32[columns]
        values += self._means32[columns]
        kept = values > 0
        parts = [(rows[kept], columns[kept], values[kept])]
        for level in self._tree:
            parts.append(self._fire_children(parts[-1], level, shared, rng))
        return tuple(np.concatenate(part) for part in zip(*parts, strict=True))

    def _fire_free(self, batch_size, shared, rng):
        """The features outside any tree's children: roots and the rest.

        The frequent ones (`_dense`) draw `eta` for every row. The others
        (`_sparse`, in blocks of one level `h` each) draw `eta` where
        `c < h` ("hot"), and elsewhere only where `eta > h`: those
        positions are a Bernoulli(`Phi(-h)`) set, drawn by geometric gaps,
        their `eta` from the normal's tail beyond `h`.
        """
        rows, columns = [], []
        if len(self._dense):
            if shared is None:
                cut = self._thresholds[self._dense]
            else:
                cut = shared @ self._weights[:, self._dense]
            eta = rng.standard_normal(
                (batch_size, len(self._dense)), dtype="float32"
            )
            r, j = np.nonzero(eta > cut)
            rows.append(r)
            columns.append(self._dense[j])
        width = len(self._sparse)
        if width:
            if shared is not None:
                cut = _product_on_one_thread(shared, self._sparse_weights)
                hot = np.flatnonzero(cut < self._sparse_levels)
                eta = rng.standard_normal(len(hot), dtype="float32")
                hot = hot[eta > cut.ravel()[hot]]
                rows.append(hot // width)
                columns.append(self._sparse[hot % width])
            for start, stop, level in self._blocks:
                tail = _normal_tail(level)
                positions = _bernoulli_positions(
                    rng, batch_size * (stop - start), tail
                )
                r, j = np.divmod(positions, stop - start)
                j += start
                eta = -scipy.special.ndtri(
                    tail * (1.0 - rng.random(len(positions)))
                )
                if shared is None:
                    fires = eta > self._thresholds[self._sparse[j]]
                else:
                    c = cut[r, j]
                    fires = (c >= level) & (eta > c)
                rows.append(r[fires])
                columns.append(self._sparse[j[fires]])
        if not rows:
            return np.zeros(0, "int64"), np.zeros(0, "int64")
        return np.concatenate(rows), np.concatenate(columns)

    def _fire_children(self, parents, level, shared, rng):
        """One level of the trees, drawn where the parents fired.

        Each firing parent's `branching` children draw their copula and
        magnitude; of those that fire, one (uniformly) is kept, scaled by
        the parent's value over its mean.
        """
        first_parent, count, first_child, weights, uncertain = level
        rows, columns, values = parents
        kept = np.flatnonzero(
            (columns >= first_parent) & (columns < first_parent + count)
        )
        rows, columns, values = rows[kept], columns[kept], values[kept]
        block = columns - first_parent
        children = first_child + block[:, None] * self.branching
        children = children + np.arange(self.branching)
        shape = children.shape
        magnitudes = rng.standard_normal(shape, dtype="float32")
        magnitudes *= self._stds32[children]
        magnitudes += self._means32[children]
        fires = magnitudes > 0
        drawn = np.flatnonzero(uncertain[block])
        if len(drawn):
            if shared is None:
                cut = self._thresholds[children[drawn]]
            else:
                cut = np.einsum(
                    "mkr,mr->mk", weights[block[drawn]], shared[rows[drawn]]
                )
            eta = rng.standard_normal(cut.shape, dtype="float32")
            fires[drawn] &= eta > cut
        keys = rng.random(shape, dtype="float32")
        keys[~fires] = -1.0
        winner = keys.argmax(axis=1)
        alive = np.flatnonzero(fires.any(axis=1))
        winner = winner[alive]
        magnitudes = magnitudes[alive, winner]
        if self.scale_children_by_parent:
            magnitudes *= values[alive] / self._means32[columns[alive]]
        return rows[alive], children[alive, winner], magnitudes

    def _product(self, batch_size, rows, columns, values):
        """`x = a F + b` from the firing features, a sparse product."""
        keys = rows.astype("uint16") if batch_size <= 2**16 else rows
        order = np.argsort(keys, kind="stable")
        pointers = np.zeros(batch_size + 1, "int64")
        np.cumsum(np.bincount(rows, minlength=batch_size), out=pointers[1:])
        a = scipy.sparse.csr_array(
            (values[order], columns[order], pointers),
            shape=(batch_size, self.num_features),
        )
        x = a @ self.feature_vectors
        x += self.bias_vector
        return x

    def batches(self, batch_size, num_batches, seed=0, **kwargs):
        """A `PlantedFeatureBatches` of this generator's samples."""
        return PlantedFeatureBatches(
            self, batch_size, num_batches, seed=seed, **kwargs
        )

    def get_config(self):
        return {
            "num_features": self.num_features,
            "hidden_dim": self.hidden_dim,
            "exponent": self.exponent,
            "p_max": self.p_max,
            "p_min": self.p_min,
            "hierarchy_roots": self.hierarchy_roots,
            "branching": self.branching,
            "hierarchy_depth": self.hierarchy_depth,
            "scale_children_by_parent": self.scale_children_by_parent,
            "correlation_rank": self.correlation_rank,
            "correlation_scale": self.correlation_scale,
            "orthogonalize_steps": self.orthogonalize_steps,
            "orthogonalize_lr": self.orthogonalize_lr,
            "mean_magnitude": self.mean_magnitude,
            "std_magnitude": self.std_magnitude,
            "bias": self.bias,
            "seed": self.seed,
        }


class PlantedFeatureBatches(keras.utils.PyDataset):
    """Streams a `PlantedFeatures`'s samples, batch `i` drawn from seed i.

    Nothing is stored: batch `i` is `generator.sample(batch_size, seed=
    (0, seed, i))`, the same whichever worker asks for it, in any order.

    Args:
        generator: a `PlantedFeatures`.
        batch_size: positive integer.
        num_batches: positive integer, the length of an epoch.
        seed: integer >= 0, default 0: the stream.
        with_activations: bool, default `False`: batches are `x` (what
            `SparseAutoencoder.fit` takes); `True`: `(x, true_activations)`.
        **kwargs: `keras.utils.PyDataset`'s `workers`,
            `use_multiprocessing`, `max_queue_size`.

    Example:

    >>> from sparsekeras.datasets import PlantedFeatures
    >>> data = PlantedFeatures(64, 16).batches(32, num_batches=10)
    >>> len(data), data[3].shape
    (10, (32, 16))
    """

    def __init__(
        self,
        generator,
        batch_size,
        num_batches,
        *,
        seed=0,
        with_activations=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(generator, PlantedFeatures):
            raise TypeError(
                "Invalid type for `generator`, expected a `PlantedFeatures`. "
                f"Received: generator={generator!r}"
            )
        self.generator = generator
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        # `num_batches` is PyDataset's read-only property, from `__len__`.
        self._num_batches = check_int("num_batches", num_batches, minimum=1)
        self.seed = check_int("seed", seed, minimum=0)
        self.with_activations = check_bool("with_activations", with_activations)

    def __len__(self):
        return self._num_batches

    def __getitem__(self, index):
        if not 0 <= index < self._num_batches:
            raise IndexError(
                f"Batch index {index} out of range [0, {self._num_batches})"
            )
        seed = (0, self.seed, int(index))
        if self.with_activations:
            return self.generator.sample(self.batch_size, seed=seed)
        # `x` alone skips the dense `(batch_size, num_features)` array.
        return self.generator._sample_x(self.batch_size, seed=seed)


CONFIGURATIONS = {
    "synthsaebench-16k": dict(
        num_features=16_384,
        hidden_dim=768,
        hierarchy_roots=128,
        correlation_rank=25,
    ),
    "cpu-4k": dict(
        num_features=4096,
        hidden_dim=256,
        hierarchy_roots=32,
        correlation_rank=25,
    ),
    "cpu-2k": dict(
        num_features=2048,
        hidden_dim=128,
        hierarchy_roots=16,
        correlation_rank=25,
    ),
    "tiny": dict(
        num_features=256,
        hidden_dim=32,
        hierarchy_roots=4,
        hierarchy_depth=2,
        correlation_rank=4,
    ),
}
"""The named configurations: SynthSAEBench-16k's published one, and
CPU-sized ones with the same firing, hierarchy, correlation, magnitude and
bias settings (`"cpu-4k"`: 4,096 features in 256 dimensions, for
1,024-latent SAEs; `"cpu-2k"`: 2,048 in 128, for 512-latent SAEs;
`"tiny"`: for tests)."""


def planted_features(name, seed=42):
    """The `PlantedFeatures` of a named configuration.

    Args:
        name: a key of `CONFIGURATIONS`: `"synthsaebench-16k"`, `"cpu-4k"`,
            `"cpu-2k"` or `"tiny"`.
        seed: integer, default 42.

    Example:

    >>> from sparsekeras.datasets import planted_features
    >>> planted_features("tiny").feature_vectors.shape
    (256, 32)
    """
    if name not in CONFIGURATIONS:
        raise ValueError(
            "Invalid value for `name`, expected one of "
            f"{sorted(CONFIGURATIONS)}. Received: name={name!r}"
        )
    return PlantedFeatures(**CONFIGURATIONS[name], seed=seed)


def synthsaebench_16k(seed=42):
    """SynthSAEBench-16k: 16,384 features in 768 dimensions.

    Zipfian firing (exponent 0.5, p_max 0.4, p_min 5e-4; mean L0 about
    34), a hierarchy of 128 roots, branching 4, depth 3, mutually
    exclusive and parent-scaled children, low-rank correlations (rank 25,
    scale 0.1), orthogonalised vectors (100 steps, lr 3e-4), mean
    magnitudes 5.0 to 4.0, folded-normal spreads (0.5, 0.5), bias norm 0.5.
    The orthogonalisation takes minutes on a CPU. The same distribution
    as SAELens's `synth-sae-bench-16k-v2`, not its exact vectors.
    """
    return planted_features("synthsaebench-16k", seed=seed)


def _pair(name, value, minimum):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(
            f"Invalid value for `{name}`, expected a pair of numbers. "
            f"Received: {name}={value!r}"
        )
    return tuple(check_float(name, v, minimum=minimum) for v in value)


def _zipf(n, exponent, p_max, p_min):
    if n == 1:
        return np.array([p_max])
    weights = np.arange(1, n + 1, dtype="float64") ** -exponent
    low, high = weights.min(), weights.max()
    return p_min + (p_max - p_min) * (weights - low) / (high - low)


def _hierarchy(n, roots, branching, depth):
    """Trees numbered breadth first over the whole forest.

    Returns:
        `levels`: per level below the roots, `(children, parents, groups)`
        with children sorted by parent in blocks of `branching` siblings
        (`groups`, an `(n_groups, branching)` array, the mutually exclusive
        blocks; the last parent's block may be cut short by `n`, and is
        then left out of `groups` and of the levels); `groups`: all
        sibling blocks, as a list of `(parent, siblings)`.
    """
    levels, blocks = [], []
    parents = np.arange(min(roots, n))
    following = len(parents)
    for _ in range(depth):
        count = min(len(parents), (n - following) // branching)
        if count == 0:
            break
        level_parents = parents[:count]
        children = following + np.arange(count * branching)
        groups = children.reshape(count, branching)
        levels.append((children, np.repeat(level_parents, branching), groups))
        blocks += list(zip(level_parents, groups, strict=True))
        following += count * branching
        parents = children
    return levels, blocks


def _compensated(p, blocks):
    """Raised rates that give each feature its rate p after the hierarchy.

    A child fires when its own draw, its parent and the mutual-exclusion
    lottery all say so: `q_c p_parent E[1/K]` must equal `p_c`, K the
    number of firing siblings; solved by fixed-point iteration per block.
    """
    q = p.copy()
    for parent, siblings in blocks:
        target = p[siblings] / p[parent]
        rates = np.minimum(target, 1.0)
        for _ in range(100):
            win = _win_probabilities(rates)
            updated = np.minimum(target / np.maximum(win, 1e-12), 1.0)
            done = np.abs(updated - rates).max() < 1e-8
            rates = updated
            if done:
                break
        q[siblings] = rates
    return q


def _win_probabilities(rates):
    """`E[1/K | i fires]` for independent siblings firing at `rates`."""
    # The distribution of the number of other siblings firing, by sibling.
    wins = np.empty_like(rates)
    for i in range(len(rates)):
        counts = np.array([1.0])
        for j, r in enumerate(rates):
            if j != i:
                counts = np.convolve(counts, [1 - r, r])
        wins[i] = (counts / np.arange(1, len(counts) + 1)).sum()
    return wins


_LEVELS = np.arange(0.0, 6.01, 0.25)
"""The levels `h` a sparse feature may take: a few, so few blocks."""


def _sampling_levels(cuts, spreads, hot_cost=1.0, tail_cost=4.0):
    """Per feature, the level `h` that makes sampling cheapest, or NaN.

    A feature fires where `eta > c`, `c` normal with mean `cuts` and
    standard deviation `spreads` (the copula's cut over `d`). With a level
    `h`, `eta` is drawn where `c < h` (probability `Phi((h - cut) /
    spread)`) and at the Bernoulli(`Phi(-h)`) tail positions (each
    costing `tail_cost`); NaN (draw `eta` everywhere) where no level
    beats that. Where `spreads` is 0 (no correlations), `h <= cut`.
    """
    h = _LEVELS[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        hot = scipy.special.ndtr((h - cuts) / spreads)
    hot = np.where(spreads > 0, hot, np.where(h <= cuts, 0.0, np.inf))
    cost = hot + tail_cost * scipy.special.ndtr(-h)
    best = cost.argmin(axis=0)
    cheapest = cost[best, np.arange(len(cuts))]
    return np.where(cheapest < hot_cost, _LEVELS[best], np.nan)


def _product_on_one_thread(a, b):
    """`a @ b` in blocks small enough for BLAS to run each on one thread.

    OpenBLAS splits a product of more than `2**18` multiply-adds across
    threads, which wait on each other when the cores are busy with other
    work (several times slower on a loaded 2-core machine); the blocks
    stay under that: 8 rows or more by as many columns as fit.
    """
    size = 2**18 // a.shape[1]
    rows = max(size // b.shape[1], 8)
    columns = max(size // rows, 1)
    out = np.empty((len(a), b.shape[1]), np.result_type(a, b))
    for start in range(0, len(a), rows):
        for first in range(0, b.shape[1], columns):
            np.matmul(
                a[start : start + rows],
                b[:, first : first + columns],
                out=out[start : start + rows, first : first + columns],
            )
    return out


def _normal_tail(level):
    """`P(eta > level)` for a standard normal `eta`."""
    return float(scipy.special.ndtr(-level))


def _bernoulli_positions(rng, size, p):
    """The sorted positions in `range(size)` kept with probability `p`.

    Geometric gaps: `O(size p)` draws, not `size`.
    """
    expected = size * p
    count = int(expected + 6 * math.sqrt(expected) + 16)
    positions = np.cumsum(rng.geometric(p, count)) - 1
    while positions[-1] < size:
        more = np.cumsum(rng.geometric(p, count)) + positions[-1]
        positions = np.concatenate([positions, more])
    return positions[: np.searchsorted(positions, size)]


def _orthogonalized(vectors, steps, lr):
    """SAELens's orthogonalisation: Adam on the Gram matrix's errors.

    The gradient of `sum_{i!=j} G_ij^2 + n sum_i (G_ii - 1)^2`, `G = E E^T`,
    is `4 (E (E^T E) - G_ii e_i) + 4 n (G_ii - 1) e_i` for row i: products
    with the `(dim, dim)` matrix `E^T E`, never the `(n, n)` Gram matrix.
    """
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
    n = len(vectors)
    first = np.zeros_like(vectors)
    second = np.zeros_like(vectors)
    beta1, beta2, epsilon = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        norms = np.einsum("ij,ij->i", vectors, vectors)[:, None]
        gradient = vectors @ (vectors.T @ vectors)
        gradient += (n * (norms - 1.0) - norms) * vectors
        gradient *= 4.0
        first = beta1 * first + (1 - beta1) * gradient
        second = beta2 * second + (1 - beta2) * np.square(gradient)
        corrected = first / (1 - beta1**step)
        scale = np.sqrt(second / (1 - beta2**step)) + epsilon
        vectors -= lr * corrected / scale
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
    return vectors.astype("float32")
