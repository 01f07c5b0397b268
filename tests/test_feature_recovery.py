import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from sparsekeras.callbacks import FeatureRecovery
from sparsekeras.datasets import PlantedFeatures
from sparsekeras.feature_recovery import (
    classification_metrics,
    dead_latents,
    explained_variance,
    feature_uniqueness,
    mean_correlation_coefficient,
    mean_l0,
    score_feature_recovery,
    shrinkage,
)
from sparsekeras.models import SparseAutoencoder


def _unit_rows(rng, n, d):
    v = rng.normal(size=(n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_the_true_dictionary_scores_mcc_one():
    f = _unit_rows(np.random.default_rng(0), 50, 16)
    assert mean_correlation_coefficient(f, f) == pytest.approx(1.0)
    assert feature_uniqueness(f, f) == 1.0


def test_a_permuted_sign_flipped_rescaled_dictionary_scores_one():
    rng = np.random.default_rng(1)
    f = _unit_rows(rng, 50, 16)
    signs = rng.choice([-1.0, 1.0], size=(50, 1))
    decoder = 3.0 * signs * f[rng.permutation(50)]
    assert mean_correlation_coefficient(decoder, f) == pytest.approx(1.0)
    # Fewer latents than features: each matched once, to its own.
    assert mean_correlation_coefficient(decoder[:20], f) == pytest.approx(1.0)
    assert feature_uniqueness(decoder[:20], f) == 1.0


def test_a_random_dictionary_scores_near_chance():
    d, n = 64, 40
    rng = np.random.default_rng(2)
    features = _unit_rows(rng, n, d)
    chance = [
        mean_correlation_coefficient(_unit_rows(rng, n, d), features)
        for _ in range(8)
    ]
    score = mean_correlation_coefficient(
        _unit_rows(np.random.default_rng(99), n, d), features
    )
    assert abs(score - np.mean(chance)) < 4 * np.std(chance) + 1e-3
    # E|cos| of two random directions in d dimensions: the matching can
    # only beat it, and stays far from recovery.
    mean_cosine = math.gamma(d / 2) / (
        math.sqrt(math.pi) * math.gamma((d + 1) / 2)
    )
    assert mean_cosine < score < 0.4


def test_duplicated_latents_halve_uniqueness():
    f = _unit_rows(np.random.default_rng(3), 10, 8)
    assert feature_uniqueness(np.concatenate([f[:5], -f[:5]]), f) == 0.5


def test_a_latent_that_copies_its_feature_classifies_perfectly():
    rng = np.random.default_rng(4)
    f = _unit_rows(rng, 6, 8)
    truth = rng.random((500, 6)) * (rng.random((500, 6)) < 0.3)
    scores = classification_metrics(truth, truth, f, f)
    assert scores == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "accuracy": 1.0,
    }
    always = classification_metrics(np.ones_like(truth), truth, f, f)
    rate = (truth > 0).mean(axis=0)
    assert always["recall"] == 1.0
    assert always["precision"] == pytest.approx(rate.mean())
    assert always["f1"] == pytest.approx(np.mean(2 * rate / (1 + rate)))


def test_reconstruction_scores():
    x = np.random.default_rng(5).normal(size=(200, 8))
    assert explained_variance(x, x) == 1.0
    assert explained_variance(x, np.broadcast_to(x.mean(0), x.shape)) == (
        pytest.approx(0.0, abs=1e-12)
    )
    assert shrinkage(x, 0.5 * x) == pytest.approx(0.5)
    codes = np.array([[0.0, 2.0, 0.0], [1.0, 3.0, 0.0]])
    assert mean_l0(codes) == 1.5
    assert dead_latents(codes) == 1


def test_scores_accumulate_over_batches():
    g = PlantedFeatures(64, 16, hierarchy_roots=2, orthogonalize_steps=0)
    batches = [g.sample(300, seed=i) for i in range(3)]
    scores = score_feature_recovery(
        ((x, a, a, x) for x, a in batches),
        g.feature_vectors,
        g.feature_vectors,
    )
    fired = np.mean(np.any([a > 0 for _, a in batches], axis=(0, 1)))
    assert scores["mcc"] == pytest.approx(1.0)
    # A feature that never fired has precision 0 / 0, counted as 0.
    assert scores["f1"] == scores["precision"] == pytest.approx(fired)
    assert scores["explained_variance"] == 1.0
    assert scores["l0"] == scores["true_l0"]
    assert scores["samples"] == 900


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="decoder"):
        mean_correlation_coefficient(np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="decoder"):
        mean_correlation_coefficient(np.eye(3), np.eye(4))


def test_callback_logs_scores_during_fit():
    g = PlantedFeatures(64, 16, hierarchy_roots=2, orthogonalize_steps=0)
    sae = SparseAutoencoder(units=32, k=4, pre_bias=None)
    sae.compile(optimizer=keras.optimizers.Adam(1e-3))
    log = FeatureRecovery(g, every=3, num_samples=256, batch_size=128)
    history = sae.fit(g.batches(32, 6), callbacks=[log], epochs=2, verbose=0)
    assert [step for step, _ in log.history] == [3, 6, 6, 9, 12, 12]
    assert 0.0 <= history.history["recovery_mcc"][-1] <= 1.0
    assert history.history["recovery_samples"] == [256, 256]


def test_callback_refuses_a_bad_interval():
    with pytest.raises(ValueError, match="every"):
        FeatureRecovery(None, every=0)


_SAELENS_SCRIPT = """
import json, sys
import numpy as np, torch
from sae_lens.synthetic import evals
data = np.load(sys.argv[1])
t = {k: torch.from_numpy(data[k]) for k in data.files}
c = evals.compute_classification_metrics(
    t["codes"], t["truth"], t["decoder"], t["features"])
ev = evals.ExplainedVarianceCalculator()
ev.add_batch(t["reconstruction"], t["x"])
sh = evals.ShrinkageCalculator()
sh.add_batch(t["reconstruction"], t["x"])
print(json.dumps({
    "mcc": evals.mean_correlation_coefficient(t["decoder"], t["features"]),
    "uniqueness": evals.feature_uniqueness(t["decoder"], t["features"]),
    "precision": c.precision, "recall": c.recall, "f1": c.f1_score,
    "accuracy": c.accuracy, "explained_variance": ev.compute(),
    "shrinkage": sh.compute(),
}))
"""


def _saelens_python():
    """A Python with `sae_lens`: this one, or `$SAELENS_PYTHON`."""
    try:
        import sae_lens  # noqa: F401

        return sys.executable
    except ImportError:
        return os.environ.get("SAELENS_PYTHON")


def test_scores_agree_with_saelens(tmp_path):
    python = _saelens_python()
    if not python:
        pytest.skip("sae-lens is not installed (set SAELENS_PYTHON)")
    rng = np.random.default_rng(6)
    features = _unit_rows(rng, 48, 12).astype("float32")
    decoder = (features[:20] + 0.3 * _unit_rows(rng, 20, 12)).astype("float32")
    truth = (rng.random((400, 48)) * (rng.random((400, 48)) < 0.2)).astype(
        "float32"
    )
    codes = (truth[:, :20] * (rng.random((400, 20)) < 0.8)).astype("float32")
    x = (truth @ features).astype("float32")
    reconstruction = (codes @ decoder).astype("float32")
    path = tmp_path / "inputs.npz"
    np.savez(
        path,
        decoder=decoder,
        features=features,
        truth=truth,
        codes=codes,
        x=x,
        reconstruction=reconstruction,
    )
    out = subprocess.run(
        [python, "-c", _SAELENS_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    theirs = json.loads(out.strip().splitlines()[-1])
    ours = {
        "mcc": mean_correlation_coefficient(decoder, features),
        "uniqueness": feature_uniqueness(decoder, features),
        **classification_metrics(codes, truth, decoder, features),
        "explained_variance": explained_variance(x, reconstruction),
        "shrinkage": shrinkage(x, reconstruction),
    }
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(value, abs=1e-4), name
