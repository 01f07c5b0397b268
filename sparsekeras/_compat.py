"""Every use of Keras internals, with the Keras versions it was checked on.

sparsekeras uses Keras's public API except here. Each workaround names
what it relies on and the versions it was checked against; pyproject
allows `keras>=3.10,<3.16`, and CI runs 3.10 and the newest release.
`tests/test_compat.py` checks each assumption on the installed Keras and
fails naming the workaround when an upgrade breaks one.
"""

import contextlib
import re

import keras

CHECKED_KERAS = ("3.10", "3.15")
"""The oldest and newest Keras minor versions every workaround here was
checked against."""


def _keras_divides_activity_losses():
    """Whether this Keras divides activity regularizers by the batch size.

    Keras 3.14 (keras PR 22021) started dividing the value an
    `activity_regularizer` returns by the batch size before `add_loss`;
    3.13 and earlier add it unchanged. Used by: `_activity.activity_loss`
    and `KLSparsityRegularizer`. Checked against Keras 3.10 and 3.15.
    """
    major, minor = re.match(r"(\d+)\.(\d+)", keras.version()).groups()
    return (int(major), int(minor)) >= (3, 14)


KERAS_DIVIDES_ACTIVITY_LOSSES = _keras_divides_activity_losses()


def in_object_sharing_scope():
    """Whether Keras is deserializing inside its object-sharing scope.

    `keras.saving.load_model` deserializes a model inside
    `keras.src.saving.serialization_lib.ObjectSharingScope`, which keeps
    the global attribute `"shared_objects/id_to_obj_map"` (a dict inside
    the scope, `None` outside), so that an object saved twice loads once.
    `keras.models.clone_model` and `Model.from_config` open no such scope.

    Used by: `TiedDense.from_config`, to tell a load (the tie is kept)
    from a copy (the tie is lost). Checked against Keras 3.10 and 3.15.
    """
    # Imported here: a Keras that moved it breaks this workaround alone.
    from keras.src.backend.common import global_state

    shared = global_state.get_global_attribute("shared_objects/id_to_obj_map")
    return shared is not None


class SparesSharedSublayerLosses:
    """Mixin: clearing the layer's losses leaves a shared sublayer's alone.

    Keras's private `Layer._clear_losses` clears a layer's losses, then
    calls itself on every layer of the private list `self._layers` (the
    tracked sublayers); a call of the layer that opens a new call context
    runs it, as every layer of a functional model does under JAX's
    stateless training step. A layer that tracks another layer of the
    model as its sublayer (for its weights) would clear that layer's
    losses (an activity regularizer's), added earlier in the same step.
    This override takes the layers `_shared_sublayers()` returns out of
    `self._layers` while Keras clears, and puts them back.

    Used by: `TiedDense` (its encoder). Checked against Keras 3.10 and
    3.15.
    """

    def _shared_sublayers(self):
        return ()

    def _clear_losses(self):
        layers = self._layers
        shared = {id(layer) for layer in self._shared_sublayers()}
        spared = [(i, lay) for i, lay in enumerate(layers) if id(lay) in shared]
        for i, _ in reversed(spared):
            del layers[i]
        try:
            super()._clear_losses()
        finally:
            for i, layer in spared:
                layers.insert(i, layer)


@contextlib.contextmanager
def activity_regularizer_off(layer):
    """Switches off `layer.activity_regularizer` for one `__call__`.

    Keras's `Layer.__call__` applies `activity_regularizer` to every
    output of a layer that returns several, integer ones included, and
    has no way to name the outputs to regularize. Inside this context the
    attribute is `None`, so `__call__` adds no activity loss; the layer
    adds the loss of the outputs it chooses (`_activity.activity_loss`).
    Yields the regularizer.

    Used by: `KSparse(return_indices=True)`, whose indices are not
    activations. Checked against Keras 3.10 and 3.15.
    """
    regularizer = layer.activity_regularizer
    layer.activity_regularizer = None
    try:
        yield regularizer
    finally:
        layer.activity_regularizer = regularizer
