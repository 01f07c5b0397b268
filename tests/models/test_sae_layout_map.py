"""`sae_layout_map` lays out each per-latent weight along the model axis."""

import keras
import numpy as np
import pytest

from sparsekeras.models import sae_layout_map

MESH = keras.distribution.DeviceMesh(
    (1, 2), ["batch", "model"], np.array(["cpu:0", "cpu:1"]).reshape(1, 2)
)


@pytest.mark.parametrize(
    "path, axes",
    [
        ("sae/encoder_kernel", (None, "model")),
        ("sae/decoder_kernel", ("model", None)),
        ("sae/encoder_bias", ("model",)),
        ("sae/samples_since_fired", ("model",)),
        ("outer/sae/top_k/output", ("batch", "model")),
        ("sae/batch_top_k/output", ("batch", "model")),
    ],
)
def test_splits_the_latent_axis(path, axes):
    assert tuple(sae_layout_map(MESH)[path].axes) == axes


@pytest.mark.parametrize(
    "path",
    [
        "sae/pre_encoder_bias",
        "sae/samples_seen",
        "sae/batch_top_k/threshold",
        "sae/top_k/step",
        "sae/decoder",
    ],
)
def test_replicates_the_rest(path):
    assert sae_layout_map(MESH)[path] is None


def test_rows_on_every_device_without_a_batch_axis():
    layout_map = sae_layout_map(MESH, batch_axis=None)
    assert tuple(layout_map["sae/top_k/output"].axes) == (None, "model")


@pytest.mark.parametrize(
    "arguments, name",
    [
        ({"model_axis": "latents"}, "model_axis"),
        ({"batch_axis": "rows"}, "batch_axis"),
        ({"batch_axis": "model"}, "batch_axis"),
    ],
)
def test_axes_not_in_the_mesh_are_refused(arguments, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        sae_layout_map(MESH, **arguments)


def test_a_mesh_that_is_not_a_device_mesh_is_refused():
    with pytest.raises(TypeError, match="`device_mesh`"):
        sae_layout_map((1, 8))
