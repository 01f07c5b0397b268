"""Ground-truth scores of a sparse autoencoder on planted features.

NumPy functions with SynthSAEBench's definitions (Chanin & Garriga-Alonso,
2026; SAELens's `sae_lens.synthetic.evals`). Dictionaries are given as
rows, one feature or latent per row: a `SparseAutoencoder`'s
`decoder_kernel`, a `PlantedFeatures`'s `feature_vectors`. See
[Measuring feature recovery](feature-recovery.md).
"""

import keras
import numpy as np
from scipy.optimize import linear_sum_assignment


def _rows(name, value):
    value = np.asarray(value, dtype="float64")
    if value.ndim != 2:
        raise ValueError(
            f"Invalid value for `{name}`, expected a 2-D array (one row per "
            f"vector). Received: {name}.shape={value.shape}"
        )
    return value


def _absolute_cosines(decoder, features):
    decoder = _rows("decoder", decoder)
    features = _rows("features", features)
    if decoder.shape[1] != features.shape[1]:
        raise ValueError(
            "Invalid value for `decoder`, expected rows of the features' "
            f"size {features.shape[1]}. Received: decoder.shape="
            f"{decoder.shape}"
        )
    return np.abs(_unit(decoder) @ _unit(features).T)


def _unit(rows):
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-8)


def mean_correlation_coefficient(decoder, features):
    """Mean |cosine| of a one-to-one matching of latents to features.

        MCC = mean over matched pairs (i, j) of |cos(d_i, f_j)|,

    the matching found by the Hungarian algorithm
    (`scipy.optimize.linear_sum_assignment`) maximising the sum; with
    fewer latents than features, every latent is matched once. Invariant
    to the order and signs of the rows.

    Args:
        decoder: array `(units, dim)`, one latent's direction per row.
        features: array `(num_features, dim)`, the true feature vectors.

    Returns:
        A float in [0, 1]; 1 when every latent is a true feature.

    Example:

    >>> import numpy as np
    >>> f = np.eye(4)
    >>> round(mean_correlation_coefficient(-f[[2, 0, 3, 1]], f), 6)
    1.0

    Reference:
        - [O'Neill et al., 2025. Position: mechanistic interpretability
          should prioritize feature consistency in SAEs](
          https://arxiv.org/abs/2505.20254)
    """
    cosines = _absolute_cosines(decoder, features)
    rows, columns = linear_sum_assignment(1.0 - cosines)
    return float(cosines[rows, columns].mean())


def feature_uniqueness(decoder, features):
    """The share of latents whose best-matching feature is theirs alone.

        uniqueness = |{argmax_j |cos(d_i, f_j)| : i}| / units

    Args:
        decoder: array `(units, dim)`.
        features: array `(num_features, dim)`.

    Returns:
        A float in (0, 1]; 1 when no two latents track the same feature.
    """
    cosines = _absolute_cosines(decoder, features)
    if cosines.shape[0] == 0:
        return 0.0
    return len(np.unique(cosines.argmax(axis=1))) / cosines.shape[0]


def best_matching_features(decoder, features):
    """Each latent's best-matching feature, by |cosine| of directions.

    Returns:
        An integer array `(units,)` of feature indices.
    """
    return _absolute_cosines(decoder, features).argmax(axis=1)


class ClassificationCounts:
    """Per-latent confusion counts, accumulated batch by batch.

    Each latent is a detector of its best-matching feature (by decoder
    direction): it fires when its code is > 0, the feature when its true
    activation is > 0.

    Args:
        decoder: array `(units, dim)`.
        features: array `(num_features, dim)`.
    """

    def __init__(self, decoder, features):
        self.matches = best_matching_features(decoder, features)
        units = self.matches.shape[0]
        self.tp, self.fp, self.fn, self.tn = (np.zeros(units) for _ in "1234")

    def update(self, codes, true_activations):
        """Adds a batch: codes `(batch, units)`, activations of features."""
        fires = np.asarray(codes) > 0
        truth = np.asarray(true_activations)[:, self.matches] > 0
        self.tp += (fires & truth).sum(axis=0)
        self.fp += (fires & ~truth).sum(axis=0)
        self.fn += (~fires & truth).sum(axis=0)
        self.tn += (~fires & ~truth).sum(axis=0)

    def result(self):
        """Mean precision, recall, F1 and accuracy over the latents.

        Each is 0 for a latent where it is undefined (0 / 0).
        """
        precision = _ratio(self.tp, self.tp + self.fp)
        recall = _ratio(self.tp, self.tp + self.fn)
        f1 = _ratio(2 * precision * recall, precision + recall)
        total = np.maximum(self.tp + self.fp + self.fn + self.tn, 1e-8)
        accuracy = (self.tp + self.tn) / total
        return {
            "precision": float(precision.mean()),
            "recall": float(recall.mean()),
            "f1": float(f1.mean()),
            "accuracy": float(accuracy.mean()),
        }


def _ratio(numerator, denominator):
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)


def classification_metrics(codes, true_activations, decoder, features):
    """Mean per-latent precision, recall, F1 and accuracy.

    Latent i detects its best-matching feature j(i) (largest |cosine|):

        precision_i = TP / (TP + FP),   recall_i = TP / (TP + FN),
        F1_i = 2 precision_i recall_i / (precision_i + recall_i),

    counted over the samples, then averaged over the latents.

    Args:
        codes: array `(samples, units)`, the SAE's codes.
        true_activations: array `(samples, num_features)`.
        decoder: array `(units, dim)`.
        features: array `(num_features, dim)`.

    Returns:
        A dict with `"precision"`, `"recall"`, `"f1"` and `"accuracy"`.
    """
    counts = ClassificationCounts(decoder, features)
    counts.update(codes, true_activations)
    return counts.result()


def explained_variance(x, reconstruction):
    """`1 - E||x - x_hat||^2 / (E||x||^2 - ||E x||^2)`, the R^2 of rows.

    Args:
        x: array `(samples, dim)`, the inputs.
        reconstruction: array of the same shape.

    Returns:
        A float; 1 for a perfect reconstruction.
    """
    x = np.asarray(x, dtype="float64")
    residual = np.square(x - np.asarray(reconstruction, "float64")).sum(-1)
    variance = np.square(x).sum(-1).mean() - np.square(x.mean(0)).sum()
    if variance < 1e-10:
        return 1.0 if residual.sum() < 1e-10 else 0.0
    return float(1.0 - residual.mean() / variance)


def shrinkage(x, reconstruction, min_input_norm=1e-6):
    """Mean `||x_hat|| / ||x||` over the rows with `||x|| > min_input_norm`.

    Below 1 when the reconstructions are systematically shrunk.
    """
    norms = np.linalg.norm(np.asarray(x, "float64"), axis=-1)
    kept = norms > min_input_norm
    if not kept.any():
        return 0.0
    out = np.linalg.norm(np.asarray(reconstruction, "float64"), axis=-1)
    return float((out[kept] / norms[kept]).mean())


def mean_l0(codes):
    """The mean number of positive entries per row of `codes`."""
    return float((np.asarray(codes) > 0).sum(axis=-1).mean())


def dead_latents(codes):
    """The number of latents (columns of `codes`) never positive."""
    return int((~(np.asarray(codes) > 0).any(axis=0)).sum())


def score_feature_recovery(batches, decoder, features):
    """All the ground-truth scores, accumulated over batches.

    Args:
        batches: iterable of `(x, true_activations, codes,
            reconstruction)`, arrays with one row per sample.
        decoder: array `(units, dim)`, the latents' directions.
        features: array `(num_features, dim)`, the true feature vectors.

    Returns:
        A dict: `"mcc"`, `"uniqueness"`, `"precision"`, `"recall"`,
        `"f1"`, `"accuracy"`, `"explained_variance"` (over all samples),
        `"shrinkage"`, `"l0"`, `"true_l0"`, `"dead"` (latents that never
        fired on these samples) and `"samples"`.
    """
    decoder = _rows("decoder", decoder)
    features = _rows("features", features)
    counts = ClassificationCounts(decoder, features)
    fired = np.zeros(decoder.shape[0], bool)
    x_sum = np.zeros(decoder.shape[1])
    x_squares = residual = shrunk = l0 = true_l0 = 0.0
    samples = kept = 0
    for x, truth, codes, reconstruction in batches:
        x = np.asarray(x, "float64")
        codes = np.asarray(codes)
        reconstruction = np.asarray(reconstruction, "float64")
        counts.update(codes, truth)
        fired |= (codes > 0).any(axis=0)
        x_sum += x.sum(axis=0)
        x_squares += np.square(x).sum()
        residual += np.square(x - reconstruction).sum()
        norms = np.linalg.norm(x, axis=-1)
        rows = norms > 1e-6
        out = np.linalg.norm(reconstruction, axis=-1)
        shrunk += (out[rows] / norms[rows]).sum()
        kept += int(rows.sum())
        l0 += float((codes > 0).sum())
        true_l0 += float((np.asarray(truth) > 0).sum())
        samples += len(x)
    if samples == 0:
        raise ValueError("`batches` gave no samples to score.")
    variance = x_squares / samples - np.square(x_sum / samples).sum()
    return {
        "mcc": mean_correlation_coefficient(decoder, features),
        "uniqueness": feature_uniqueness(decoder, features),
        **counts.result(),
        "explained_variance": float(1.0 - residual / samples / variance),
        "shrinkage": shrunk / max(kept, 1),
        "l0": l0 / samples,
        "true_l0": true_l0 / samples,
        "dead": int((~fired).sum()),
        "samples": samples,
    }


def evaluate_feature_recovery(
    model, generator, num_samples=100_000, batch_size=4096, seed=1
):
    """Scores a `SparseAutoencoder` on fresh samples of a generator.

    Args:
        model: a built `SparseAutoencoder` (anything with `encode`,
            `decode` and a `(units, dim)` `decoder_kernel`).
        generator: a `PlantedFeatures`.
        num_samples: the samples scored, default 100,000.
        batch_size: samples per batch, default 4096.
        seed: integer, default 1: the batches are `generator.sample(
            batch_size, seed=(1, seed, i))`, a stream apart from
            `PlantedFeatureBatches`' (whose seeds start with 0).

    Returns:
        `score_feature_recovery`'s dict.
    """

    def batches():
        for i, start in enumerate(range(0, num_samples, batch_size)):
            rows = min(batch_size, num_samples - start)
            x, truth = generator.sample(rows, seed=(1, seed, i))
            codes = keras.ops.convert_to_numpy(model.encode(x))
            reconstruction = keras.ops.convert_to_numpy(model.decode(codes))
            yield x, truth, codes, reconstruction

    decoder = keras.ops.convert_to_numpy(model.decoder_kernel)
    return score_feature_recovery(batches(), decoder, generator.feature_vectors)
