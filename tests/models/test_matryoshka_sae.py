"""Matryoshka SparseAutoencoders: nested prefixes, each reconstructing."""

import keras
import numpy as np
import numpy_sae
import pytest
from keras import ops

from sparsekeras.models import SparseAutoencoder, matryoshka_group_sizes

from helpers import assert_resumes_exactly

INPUT_DIM, UNITS, K = 6, 12, 2
GROUPS = [2, 2, 8]


def _data(rows=64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(rows, INPUT_DIM)) + 1.0).astype("float32")


def _adapted(activation="batch_topk", **kwargs):
    keras.utils.set_random_seed(0)
    sae = SparseAutoencoder(
        UNITS, K, activation=activation, matryoshka_groups=GROUPS, **kwargs
    )
    sae.adapt(_data())
    return sae


def _with_dead(sae, dead):
    since = np.zeros(UNITS, "int32")
    since[dead] = sae.dead_after
    sae.samples_since_fired.assign(since)
    return since >= sae.dead_after


def test_group_sizes_are_the_papers_doubling_prefixes():
    assert matryoshka_group_sizes(4096) == [256, 256, 512, 1024, 2048]
    assert matryoshka_group_sizes(100, levels=3) == [25, 25, 50]
    assert matryoshka_group_sizes(7, levels=1) == [7]
    with pytest.raises(ValueError, match="units.*at least 2\\*\\*"):
        matryoshka_group_sizes(8, levels=5)


@pytest.mark.parametrize(
    "groups, error, match",
    [
        ([2, 2], ValueError, "summing to `units` \\(12\\).*sums to 4"),
        ([4, 0, 8], ValueError, "positive integers"),
        ([6, -2, 8], ValueError, "positive integers"),
        ([], ValueError, "non-empty"),
        ([6.0, 6], ValueError, "positive integers"),
        ([True, 11], ValueError, "positive integers"),
        ("12", TypeError, "list of group sizes"),
        (12, TypeError, "list of group sizes"),
    ],
)
def test_bad_groups_are_refused(groups, error, match):
    with pytest.raises(error, match=f"Invalid.*matryoshka_groups.*{match}"):
        SparseAutoencoder(UNITS, K, matryoshka_groups=groups)


# More dead latents than aux_k (a top-k among them), and fewer (all).
@pytest.mark.parametrize("dead", [[0, 3, 5, 7], [3, 5]])
def test_loss_sums_the_prefixes_and_adds_auxk_once(dead):
    # AuxK once, on the whole dictionary's residual (dictionary_learning
    # PR #34 fixed a coefficient applied twice).
    x = _data(32)
    sae = _adapted(dead_after=10, aux_k=3)
    dead = _with_dead(sae, dead)
    expected = numpy_sae.loss(sae, x, dead)
    sae(x, training=True)
    (loss,) = sae.losses
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(loss)), expected, 1e-5
    )
    w = numpy_sae.weights(sae)
    z = numpy_sae.codes(sae, w, numpy_sae.pre_activations(w, x))
    one_prefix = numpy_sae.reconstruction_loss(
        SparseAutoencoder(UNITS, K), w, x.astype("float64"), z
    )
    assert expected - one_prefix > 0.1


@pytest.mark.parametrize("activation", ["batch_topk", "topk"])
def test_prefix_loss_gradients_match_finite_differences(activation):
    # One SGD step of rate 1 moves each weight by minus its gradient.
    x = _data(32)
    sae = _adapted(activation, aux_k=0, unit_norm_decoder=False)
    no_dead = np.zeros(UNITS, bool)
    expected = {
        name: numpy_sae.numerical_gradient(
            lambda value, name=name: numpy_sae.loss(
                sae, x, no_dead, **{name: value}
            ),
            numpy_sae.weights(sae)[name],
        )
        for name in numpy_sae.NAMES
    }
    before = {
        name: ops.convert_to_numpy(getattr(sae, name)) for name in expected
    }
    sae.compile(optimizer=keras.optimizers.SGD(1.0))
    sae.train_on_batch(x)
    for name, gradient in expected.items():
        moved = before[name] - ops.convert_to_numpy(getattr(sae, name))
        np.testing.assert_allclose(moved, gradient, 1e-3, 1e-5, name)


@pytest.fixture(scope="module")
def trained():
    x = _data(128)
    sae = _adapted(dead_after=64)
    sae.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = sae.fit(x, batch_size=32, epochs=4, verbose=0)
    return sae, history


def test_training_lowers_the_loss_and_l0_averages_k(trained):
    # SAELens PR #570: BatchTopK's per-sample L0 averages k in training.
    _, history = trained
    loss = history.history["loss"]
    assert loss[-1] < 0.9 * loss[0]
    np.testing.assert_allclose(history.history["l0"], K)


def test_inference_codes_keep_what_is_above_the_batch_topk_threshold(trained):
    sae, _ = trained
    x = _data(16, seed=1)
    theta = float(ops.convert_to_numpy(sae.selection.threshold))
    assert theta > 0
    pre = np.maximum(
        numpy_sae.pre_activations(numpy_sae.weights(sae), x.astype("float64")),
        0,
    )
    codes = ops.convert_to_numpy(sae.encode(x))
    np.testing.assert_array_equal(codes != 0, pre > theta)
    np.testing.assert_allclose(codes, pre * (pre > theta), 1e-5, 1e-5)


def test_get_config_round_trip_keeps_the_groups():
    config = SparseAutoencoder(
        UNITS, K, activation="batch_topk", matryoshka_groups=(4, 8)
    ).get_config()
    assert config["matryoshka_groups"] == [4, 8]
    revived = SparseAutoencoder.from_config(config)
    assert revived.get_config() == config


def test_training_resumes_exactly_after_save_and_load(tmp_path):
    x = _data(48)

    def fresh():
        sae = _adapted(dead_after=20, aux_k=4)
        sae.compile(optimizer=keras.optimizers.Adam(1e-2))
        return sae

    fit = dict(batch_size=16, verbose=0, shuffle=False)
    assert_resumes_exactly(fresh, x, str(tmp_path / "matryoshka.keras"), fit)
