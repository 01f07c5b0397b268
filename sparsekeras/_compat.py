"""Every use of Keras internals, with the Keras versions it was checked on.

sparsekeras uses Keras's public API except here. Each workaround says what
it relies on and the versions it was checked against; pyproject allows
`keras>=3.10,<3.16`, and CI runs 3.10 and the newest release.
`tests/test_compat.py` checks each assumption on the installed Keras and
fails naming the workaround when an upgrade breaks one.
"""

from keras.src.backend.common import global_state

CHECKED_KERAS = ("3.10", "3.15")
"""The oldest and newest Keras minor versions every workaround here was
checked against."""


def in_object_sharing_scope():
    """Whether Keras is deserializing inside its object-sharing scope.

    `keras.saving.load_model` deserializes a model inside
    `keras.src.saving.serialization_lib.ObjectSharingScope`, which records
    each deserialized object by id in the global attribute
    `"shared_objects/id_to_obj_map"` (a dict inside the scope, `None`
    outside), so that an object saved twice loads once.
    `keras.models.clone_model` and `Model.from_config` have no such scope.

    Used by: `TiedDense.from_config`, to tell a load (the tie is kept)
    from a copy (the tie is lost). Checked against Keras 3.10 and 3.15.
    """
    shared = global_state.get_global_attribute("shared_objects/id_to_obj_map")
    return shared is not None
