import os

import keras
import numpy as np
import pytest
from keras import ops

from sparsekeras.layers import NeuralSparseCoding

from helpers import call_loaded


def _numpy(x):
    return ops.convert_to_numpy(x)


def _data(samples=40, input_dim=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(samples, input_dim)).astype("float32")


def _atoms(layer):
    return _numpy(layer.dictionary).T


def _matching_rows(atoms, data):
    """For each atom, the index of the data row it is the direction of."""
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    directions = data / np.where(norms > 0, norms, 1.0)
    similarity = atoms @ directions.T
    assert np.allclose(similarity.max(axis=1), 1.0, atol=1e-5)
    return similarity.argmax(axis=1)


def test_atoms_are_distinct_normalised_samples():
    data = _data()
    layer = NeuralSparseCoding(10, k=2)
    layer.adapt(data)
    atoms = _atoms(layer)
    np.testing.assert_allclose(np.linalg.norm(atoms, axis=1), 1.0, atol=1e-6)
    rows = _matching_rows(atoms, data)
    assert len(set(rows.tolist())) == 10


def test_builds_from_the_datas_shape():
    layer = NeuralSparseCoding(4, k=1)
    layer.adapt(_data(input_dim=7))
    assert layer.built
    assert tuple(layer.dictionary.shape) == (7, 4)


def test_the_same_seed_chooses_the_same_samples():
    data = _data()
    first, again, other = (NeuralSparseCoding(10, k=2) for _ in range(3))
    first.adapt(data)
    again.adapt(data)
    other.adapt(data, seed=1)
    np.testing.assert_array_equal(_atoms(first), _atoms(again))
    assert not np.allclose(_atoms(first), _atoms(other))


def test_skips_samples_of_zero_norm():
    data = np.zeros((30, 5), dtype="float32")
    data[::6] = _data(samples=5, input_dim=5)
    layer = NeuralSparseCoding(5, k=1)
    layer.adapt(data)
    assert sorted(_matching_rows(_atoms(layer), data)) == [0, 6, 12, 18, 24]


def test_reads_only_the_first_steps_batches():
    data = _data(samples=40)
    layer = NeuralSparseCoding(4, k=1)
    layer.adapt(data, batch_size=3, steps=2)
    assert set(_matching_rows(_atoms(layer), data)) <= set(range(6))


def test_accepts_a_backend_tensor_and_integer_pixels():
    pixels = np.random.default_rng(0).integers(0, 256, (20, 6), "uint8")
    from_numpy = NeuralSparseCoding(5, k=1)
    from_numpy.adapt(pixels)
    from_tensor = NeuralSparseCoding(5, k=1)
    from_tensor.adapt(ops.convert_to_tensor(pixels.astype("float32")))
    np.testing.assert_allclose(
        _atoms(from_numpy), _atoms(from_tensor), atol=1e-6
    )


def test_adapted_layer_trains_in_a_model_and_is_saved(tmp_path):
    data = _data(samples=64)
    inputs = keras.Input((6,))
    layer = NeuralSparseCoding(8, k=2, learning_rate=0.1)
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    layer.adapt(data)
    adapted = _atoms(layer)
    model.compile(loss="mse")
    model.fit(data, np.zeros((64, 1)), batch_size=16, epochs=1, verbose=0)
    assert not np.allclose(_atoms(layer), adapted)
    assert np.all(np.isfinite(_atoms(layer)))

    path = os.path.join(tmp_path, "adapted.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(
        _numpy(loaded.layers[1].dictionary), _numpy(layer.dictionary)
    )
    np.testing.assert_allclose(
        _numpy(call_loaded(loaded, data)), _numpy(model(data)), atol=1e-6
    )


def test_rejects_fewer_usable_samples_than_atoms():
    data = np.zeros((30, 5), dtype="float32")
    data[:3] = 1.0
    with pytest.raises(ValueError, match="at least `units` \\(4\\)"):
        NeuralSparseCoding(4, k=1).adapt(data)


@pytest.mark.parametrize("data", [[[1.0, 2.0]], "pixels", None])
def test_rejects_data_that_is_not_an_array(data):
    with pytest.raises(TypeError, match="NumPy array or a backend tensor"):
        NeuralSparseCoding(1, k=1).adapt(data)


def test_rejects_data_of_another_rank():
    with pytest.raises(ValueError, match="rank 2"):
        NeuralSparseCoding(1, k=1).adapt(np.ones((2, 3, 4)))


def test_rejects_samples_of_another_size_than_the_built_layer():
    layer = NeuralSparseCoding(2, k=1)
    layer.build((None, 5))
    with pytest.raises(ValueError, match="input_dim \\(5\\)"):
        layer.adapt(_data(input_dim=6))


def test_rejects_non_finite_data():
    data = _data()
    data[3, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        NeuralSparseCoding(2, k=1).adapt(data)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(steps=0), ValueError),
        (dict(batch_size=2.5, steps=1), TypeError),
        (dict(seed=-1), ValueError),
    ],
)
def test_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        NeuralSparseCoding(2, k=1).adapt(_data(), **kwargs)


def test_rows_whose_norm_overflows_float64_still_give_unit_atoms():
    data = _data(samples=8).astype("float64") * 1e200
    layer = NeuralSparseCoding(4, k=1)
    layer.adapt(data)
    atoms = _atoms(layer)
    np.testing.assert_allclose(np.linalg.norm(atoms, axis=1), 1.0, atol=1e-6)
    _matching_rows(atoms, data / 1e200)


def test_duplicate_rows_give_distinct_atoms():
    data = np.repeat(_data(samples=5), 20, axis=0)
    layer = NeuralSparseCoding(5, k=1)
    layer.adapt(data)
    atoms = _atoms(layer)
    assert len(np.unique(atoms, axis=0)) == 5


def test_too_few_distinct_directions_are_refused():
    data = np.concatenate([_data(samples=3), 2 * _data(samples=3)])
    with pytest.raises(ValueError, match="distinct directions"):
        NeuralSparseCoding(4, k=1).adapt(data)


def test_complex_data_is_refused():
    data = _data().astype("complex64") * (1 + 1j)
    with pytest.raises(TypeError, match="real numbers"):
        NeuralSparseCoding(4, k=1).adapt(data)
