import json
import os

import keras
import numpy as np
import pytest

from sparsekeras.datasets import load_mnist
from sparsekeras.studies import _data, cli, instruments, makhzani_table1


def _save_mnist(path, train_images, seed=0):
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (train_images, 28, 28), dtype="uint8"),
        y_train=np.arange(train_images, dtype="uint8") % 10,
        x_test=rng.integers(0, 256, (500, 28, 28), dtype="uint8"),
        y_test=np.arange(500, dtype="uint8") % 10,
    )
    return str(path)


def test_refuses_mnist_without_60000_training_images(tmp_path, capsys):
    (x_train, y_train), (x_test, y_test) = load_mnist(source="embedded")
    path = os.path.join(tmp_path, "sample.npz")
    np.savez(
        path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test
    )
    out = os.path.join(tmp_path, "out")
    assert cli.main(["makhzani-table1", "--data", path, "--out", out]) == 2
    assert "the full 60,000" in capsys.readouterr().err
    assert not os.path.exists(out)


@pytest.fixture
def fast_probes(monkeypatch):
    # A strong L2 penalty lets the probes converge at once.
    monkeypatch.setattr(
        makhzani_table1,
        "fit_probe",
        lambda codes, labels: instruments.LinearProbe(codes, labels, l2=1.0),
    )


def test_quick_runs_offline_on_the_sample_and_states_its_deviations(
    tmp_path, fast_probes
):
    out = tmp_path / "quick"
    argv = ["makhzani-table1", "--quick", "--out", str(out), "--quiet"]
    assert cli.main([*argv, "--epochs", "1", "--max-images", "100"]) == 0
    result = json.loads((out / "result.json").read_text())
    settings = result["settings"]
    assert settings["data"] == "embedded" and settings["quick"] is True
    assert settings["train_images"] == settings["validation_images"] == 100
    assert "quick" in settings["deviations"]
    assert settings["deviations"]["epochs"] == "1 instead of thousands"
    assert (out / "model.keras").is_file()


def test_quick_splits_the_sample_into_its_stated_parts():
    train, valid, test = makhzani_table1.load_table1_mnist(
        "embedded", quick=True
    )
    assert len(train[0]) == makhzani_table1.QUICK_TRAIN_IMAGES
    assert len(valid[0]) == makhzani_table1.QUICK_VALIDATION_IMAGES
    assert len(test[0]) == 2000
    assert train[0].shape[1] == 784 and train[0].max() <= 1.0


def test_a_result_it_did_not_write_is_refused_before_loading(
    tmp_path, monkeypatch, capsys
):
    def refuse(*args, **kwargs):
        raise AssertionError("loaded the data before checking --out")

    monkeypatch.setattr(_data, "load_mnist", refuse)
    (tmp_path / "result.json").write_text('{"mine": true}')
    argv = ["makhzani-table1", "--quick", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "result.json" in capsys.readouterr().err
    assert (tmp_path / "result.json").read_text() == '{"mine": true}'


def test_full_data_writes_the_result_and_a_tied_model(
    tmp_path, fast_probes, monkeypatch
):
    # `--data full` reads the file named by SPARSEKERAS_MNIST, as `compare`.
    data = _save_mnist(tmp_path / "stand_in.npz", 60_000)
    monkeypatch.setenv("SPARSEKERAS_MNIST", data)
    out = os.path.join(tmp_path, "out")
    status = cli.main(
        [
            "makhzani-table1",
            "--data",
            "full",
            "--out",
            out,
            "--epochs",
            "2",
            "--max-images",
            "200",
            "--quiet",
        ]
    )
    assert status == 0
    with open(os.path.join(out, "result.json")) as file:
        result = json.load(file)
    assert 0.0 <= result["test_error"] <= 1.0
    assert result["alpha"] in makhzani_table1.ALPHAS
    assert set(result["validation_errors"]) == {"1", "2", "3", "4"}
    settings = result["settings"]
    assert settings["data"] == "full"
    assert settings["train_images"] == settings["validation_images"] == 200
    assert settings["epochs"] == 2
    assert settings["anneal_steps"] == 2  # 1 epoch of 2 steps of 128
    assert set(settings["deviations"]) == set(makhzani_table1.DEVIATIONS)
    assert result["wall_time_s"]["total"] > 0

    model = keras.models.load_model(
        os.path.join(out, "model.keras"), safe_mode=True
    )
    decoder = model.get_layer("decoder")
    assert decoder.kernel is model.get_layer("encoder").kernel


def test_the_autoencoder_anneals_k_and_ties_its_decoder():
    model = makhzani_table1.build_autoencoder(units=150, anneal_steps=4)
    assert [tuple(w.shape) for w in model.trainable_weights] == [
        (784, 150),
        (150,),
        (784,),
    ]
    k_sparse = model.get_layer("k_sparse")
    assert (k_sparse.k_start, k_sparse.k, k_sparse.anneal_steps) == (
        100,
        25,
        4,
    )


def test_the_decoder_bias_starts_at_the_given_image():
    image = np.linspace(0.0, 1.0, 784).astype("float32")
    model = makhzani_table1.build_autoencoder(units=50, decoder_bias=image)
    bias = keras.ops.convert_to_numpy(model.get_layer("decoder").bias)
    np.testing.assert_array_equal(bias, image)
    zero = makhzani_table1.build_autoencoder(units=50).get_layer("decoder")
    assert not np.any(keras.ops.convert_to_numpy(zero.bias))
