"""Models saved by release 0.1.0 load in this release and give its outputs.

The files under `tests/fixtures/` were written by 0.1.0 (before the modules
moved into two wings) with `tests/fixtures/make_release_models.py`.
"""

import json
import pathlib
import zipfile

import keras
import numpy as np
import pytest

import sparsekeras  # noqa: F401  (registers the components)

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
NAMES = [
    "every_component",
    "sparse_decoder",
    "sae_topk",
    "sae_batch_topk",
    "makhzani_table1",
]


def _version(text):
    return tuple(int(part) for part in text.split(".")[:2])


def _keras_that_wrote(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("metadata.json"))["keras_version"]


@pytest.mark.parametrize("name", NAMES)
def test_release_0_1_0_model_loads_and_gives_its_outputs(name):
    path = FIXTURES / f"{name}-0.1.0.keras"
    writer = _keras_that_wrote(path)
    if _version(keras.version()) < _version(writer):
        # Keras reads files of its own or older versions only: 3.10 refuses
        # the `quantization_config` that 3.15 writes into every Dense.
        pytest.skip(f"written by Keras {writer}, newer than {keras.version()}")
    model = keras.saving.load_model(path)
    saved = np.load(FIXTURES / f"{name}-0.1.0.npz")
    outputs = model.predict(saved["x"], verbose=0)
    np.testing.assert_allclose(outputs, saved["y"], rtol=1e-5, atol=1e-5)
