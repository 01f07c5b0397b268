"""The layout that splits a SparseAutoencoder's latents across devices."""

import keras


def sae_layout_map(device_mesh, model_axis="model", batch_axis="batch"):
    """A `LayoutMap` that splits a `SparseAutoencoder`'s latents across devices.

    For `keras.distribution.ModelParallel` (JAX): the latent axis of every
    per-latent weight goes along the mesh axis `model_axis`, so each of its
    `n` devices holds `units / n` latents:

        encoder_kernel (input_dim, units)   -> (None, model_axis)
        decoder_kernel (units, input_dim)   -> (model_axis, None)
        encoder_bias, samples_since_fired   -> (model_axis,)
        the selection's output (rows, units) -> (batch_axis, model_axis)

    The optimizer's state follows its weight. The rest (`pre_encoder_bias`,
    `BatchTopK`'s scalar threshold, the counters) is replicated. `KSparse`
    and `BatchTopK` see their output laid out by latent and rank shard by
    shard, each device its own latents then a merge of the `k x devices`
    candidates, exactly (no `top_k` runs on a split axis, jax issue
    #19271); so does AuxK over the dead latents. The codes, and the
    weights after training, are one device's to float round-off. `units`
    must be a multiple of the size of `model_axis`. The keys match any
    model's `encoder_kernel` (and so on), so the map is for a model whose
    only such weights are the autoencoder's. See
    [Sparse autoencoders](sparse-autoencoders.md) for what is tested and
    the memory per device.

    Args:
        device_mesh: a `keras.distribution.DeviceMesh`.
        model_axis: string, default `"model"`: the mesh axis that splits the
            latents.
        batch_axis: string or `None`, default `"batch"`: the mesh axis that
            splits the rows (the `batch_dim_name` given to `ModelParallel`),
            or `None` for rows on every device.

    Returns:
        A `keras.distribution.LayoutMap`.

    Example:

    ```python
    devices = keras.distribution.list_devices()
    mesh = keras.distribution.DeviceMesh(
        (1, len(devices)), ["batch", "model"], devices
    )
    distribution = keras.distribution.ModelParallel(
        layout_map=sae_layout_map(mesh), batch_dim_name="batch"
    )
    with distribution.scope():
        sae = SparseAutoencoder(units=65536, k=32, activation="batch_topk")
        sae.adapt(x[:65536])
        sae.compile(optimizer="adam")
        sae.fit(x, batch_size=4096)
    ```
    """
    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise TypeError(
            "Invalid type for `device_mesh`, expected a "
            "`keras.distribution.DeviceMesh`. "
            f"Received: device_mesh of type {type(device_mesh).__name__}"
        )
    names = list(device_mesh.axis_names)
    _check_axis("model_axis", model_axis, names)
    if batch_axis is not None:
        _check_axis("batch_axis", batch_axis, names)
    if batch_axis == model_axis:
        raise ValueError(
            "Invalid value for `batch_axis`, expected a mesh axis other than "
            f"`model_axis`. Received: batch_axis={batch_axis!r}"
        )
    latents, rows = model_axis, batch_axis
    layouts = {
        "encoder_kernel": (None, latents),
        "decoder_kernel": (latents, None),
        "encoder_bias": (latents,),
        "samples_since_fired": (latents,),
        "(top_k|batch_top_k)/output": (rows, latents),
    }
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for name, axes in layouts.items():
        # Whole paths that end in `name`, not `pre_encoder_bias`, under
        # Keras 3.15's `re.fullmatch` and 3.10's `re.search` alike.
        layout_map[f"(^|.*/){name}$"] = keras.distribution.TensorLayout(
            axes, device_mesh
        )
    return layout_map


def _check_axis(argument, axis, names):
    if axis not in names:
        raise ValueError(
            f"Invalid value for `{argument}`, expected one of the mesh's "
            f"axis names {names}. Received: {argument}={axis!r}"
        )
