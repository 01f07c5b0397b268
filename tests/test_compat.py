"""Each Keras workaround in `sparsekeras._compat` still holds.

A failure here after a Keras upgrade names the workaround that broke and
what it relied on: fix `sparsekeras/_compat.py` (and widen
`CHECKED_KERAS`) before widening pyproject's Keras range.
"""

import re

import keras
import numpy as np
import pytest
from keras import ops

from sparsekeras import _compat
from sparsekeras.layers import KSparse, TiedDense

VERSION = keras.version()


def _broken(workaround, what):
    return (
        f"sparsekeras._compat.{workaround} (checked against Keras "
        f"{' and '.join(_compat.CHECKED_KERAS)}) no longer holds on Keras "
        f"{VERSION}: {what}"
    )


def _minor(version):
    return tuple(
        int(part) for part in re.match(r"(\d+)\.(\d+)", version).groups()
    )


def test_installed_keras_is_one_the_workarounds_were_checked_against():
    oldest, newest = (_minor(v) for v in _compat.CHECKED_KERAS)
    assert oldest <= _minor(VERSION) <= newest, _broken(
        "CHECKED_KERAS",
        "this Keras is outside the checked range; re-check every workaround "
        "in sparsekeras/_compat.py and widen CHECKED_KERAS",
    )


class _Parent(keras.layers.Layer):
    def __init__(self, child, **kwargs):
        super().__init__(**kwargs)
        self.child = child


def test_keras_clears_sublayer_losses_through_the_private_layers_list():
    child = keras.layers.Dense(2)
    parent = _Parent(child)
    assert hasattr(keras.layers.Layer, "_clear_losses"), _broken(
        "SparesSharedSublayerLosses", "Layer._clear_losses is gone"
    )
    assert isinstance(parent._layers, list), _broken(
        "SparesSharedSublayerLosses", "Layer._layers is not a list"
    )
    assert any(layer is child for layer in parent._layers), _broken(
        "SparesSharedSublayerLosses",
        "a layer set as an attribute is not in the parent's _layers",
    )
    child.add_loss(ops.ones(()))
    parent._clear_losses()
    assert not child.losses, _broken(
        "SparesSharedSublayerLosses",
        "_clear_losses no longer clears the sublayers' losses (the "
        "override may be unneeded, or may need another hook)",
    )


def test_tied_dense_spares_its_encoders_losses():
    encoder = keras.layers.Dense(2)
    encoder.build((None, 3))
    decoder = TiedDense(encoder)
    encoder.add_loss(ops.ones(()))
    decoder._clear_losses()
    assert len(encoder.losses) == 1, _broken(
        "SparesSharedSublayerLosses", "the encoder's loss was cleared"
    )
    assert any(layer is encoder for layer in decoder._layers)


def test_object_sharing_scope_is_on_while_loading_and_off_otherwise(
    tmp_path, monkeypatch
):
    from keras.src.saving import serialization_lib

    assert not _compat.in_object_sharing_scope()
    with serialization_lib.ObjectSharingScope():
        assert _compat.in_object_sharing_scope(), _broken(
            "in_object_sharing_scope",
            "ObjectSharingScope no longer sets shared_objects/id_to_obj_map",
        )
    assert not _compat.in_object_sharing_scope()

    seen = []
    original = TiedDense.from_config.__func__

    def spy(cls, config):
        seen.append(_compat.in_object_sharing_scope())
        return original(cls, config)

    monkeypatch.setattr(TiedDense, "from_config", classmethod(spy))
    inputs = keras.Input((3,))
    encoder = keras.layers.Dense(2)
    model = keras.Model(inputs, TiedDense(encoder)(encoder(inputs)))
    path = str(tmp_path / "tied.keras")
    model.save(path)
    keras.models.load_model(path)
    assert seen == [True], _broken(
        "in_object_sharing_scope",
        "load_model no longer deserializes inside the object-sharing scope",
    )


class _TwoOutputs(keras.layers.Layer):
    def call(self, inputs):
        return inputs, 2 * inputs


def test_keras_applies_activity_regularizer_to_every_output():
    layer = _TwoOutputs(activity_regularizer=lambda x: ops.sum(x))
    layer(np.ones((1, 2), "float32"))
    assert len(layer.losses) == 2, _broken(
        "activity_regularizer_off",
        f"Layer.__call__ added {len(layer.losses)} activity losses for two "
        "outputs (the workaround assumes one per output)",
    )
    layer = _TwoOutputs(activity_regularizer=lambda x: ops.sum(x))
    with _compat.activity_regularizer_off(layer) as regularizer:
        layer(np.ones((1, 2), "float32"))
    assert not layer.losses and layer.activity_regularizer is regularizer, (
        _broken(
            "activity_regularizer_off",
            "setting activity_regularizer to None no longer switches it off",
        )
    )


def test_ksparse_regularizes_its_values_only():
    layer = KSparse(1, return_indices=True, activity_regularizer="l1")
    layer(np.array([[3.0, -1.0]], "float32"), training=True)
    assert len(layer.losses) == 1


def test_the_activity_loss_division_matches_the_version_check():
    layer = keras.layers.Activation(
        "linear", activity_regularizer=lambda x: ops.sum(x)
    )
    layer(np.ones((4, 1), "float32"))
    loss = float(ops.convert_to_numpy(layer.losses[0]))
    divided = loss == pytest.approx(1.0)
    assert divided == _compat.KERAS_DIVIDES_ACTIVITY_LOSSES, _broken(
        "KERAS_DIVIDES_ACTIVITY_LOSSES",
        f"an activity penalty of 4 over 4 rows gave the loss {loss}",
    )
