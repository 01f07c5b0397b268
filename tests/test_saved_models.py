"""Models saved by release 0.1.0 load in this release and give its outputs.

The files under `tests/fixtures/` were written by 0.1.0 (before the modules
moved into two wings) with `tests/fixtures/make_release_models.py`.
"""

import pathlib

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


@pytest.mark.parametrize("name", NAMES)
def test_release_0_1_0_model_loads_and_gives_its_outputs(name):
    model = keras.saving.load_model(FIXTURES / f"{name}-0.1.0.keras")
    saved = np.load(FIXTURES / f"{name}-0.1.0.npz")
    outputs = model.predict(saved["x"], verbose=0)
    np.testing.assert_allclose(outputs, saved["y"], rtol=1e-5, atol=1e-5)
