"""An exact top-k of rows whose last axis is split into equal shards."""

import functools
from typing import NamedTuple

import keras
from keras import ops


class LatentShards(NamedTuple):
    """How a distribution splits a last axis: `count` blocks along a mesh
    axis `axis_name` of `mesh`."""

    mesh: object
    axis_name: str
    count: int


def output_shards(layer):
    """The `LatentShards` of `layer`'s output's last axis, or None.

    Read at trace time from the current `keras.distribution`: a
    `ModelParallel` whose `LayoutMap` lays out `"<layer.path>/output"`
    (as Keras itself does after the layer's call) with a mesh axis last.
    None with no distribution, a `DataParallel`, or a replicated last axis.
    """
    distribution = keras.distribution.distribution()
    if distribution is None:
        return None
    layout = distribution.get_tensor_layout(f"{layer.path}/output")
    if layout is None or layout.axes[-1] is None:
        return None
    mesh, axis_name = layout.device_mesh, layout.axes[-1]
    count = mesh.shape[list(mesh.axis_names).index(axis_name)]
    return LatentShards(mesh, axis_name, count)


def top_k_over(shards, default):
    """`default` (a `top_k(x, k)`) with no shards, else `sharded_top_k`'s."""
    if shards is None:
        return default
    return functools.partial(
        sharded_top_k,
        shards=shards.count,
        mesh=shards.mesh,
        axis_name=shards.axis_name,
    )


def flatten_by_block(x, shards):
    """`x` as one row `(1, size)`, each device's block of latents in a run.

    With no shards, row-major. With shards, the last axis's `count`
    blocks come one after another (block 0 of every row, then block 1,
    ...), so the row splits over the devices as `x` does (a row-major
    flattening of a split last axis is gathered onto every device).
    """
    if shards is None:
        return ops.reshape(x, (1, -1))
    count = shards.count
    blocks = ops.reshape(x, (-1, count, x.shape[-1] // count))
    return ops.reshape(ops.transpose(blocks, (1, 0, 2)), (1, -1))


def unflatten_by_block(flat, shape, shards):
    """The inverse of `flatten_by_block`: `flat` as a tensor of `shape`."""
    if shards is None:
        return ops.reshape(flat, shape)
    count = shards.count
    blocks = ops.reshape(flat, (count, -1, shape[-1] // count))
    return ops.reshape(ops.transpose(blocks, (1, 0, 2)), shape)


def sharded_top_k(x, k, shards, *, mesh=None, axis_name=None):
    """The `k` largest entries of each row, found shard by shard.

    The last axis of `size` entries is cut into `shards` blocks of `size /
    shards`, in order. Each block's top `min(k, size / shards)` are its
    candidates; the row's `k` largest lie among them, so the top `k` of the
    candidates, with their indices mapped back into the whole row, are
    exactly `ops.top_k(x, k)`'s values. Among equal values the lower index
    comes first wherever `ops.top_k` does so (TensorFlow, JAX): each block
    lists its ties lower index first and the blocks come in order, so the
    indices are `ops.top_k`'s too.

    With `mesh` and `axis_name`, the blocks are laid out one per device
    along the mesh axis `axis_name`, each device ranks its own block (by a
    stable sort, which XLA keeps on the block's device, where it would
    gather a `top_k`'s operand onto every device) and the `shards * k`
    candidates are replicated before the merge, so no `top_k` runs on an
    axis split across devices: XLA's partitioning of such a `top_k` has
    given wrong values (jax issue #19271).

    Args:
        x: tensor of rank >= 2 whose last axis is known.
        k: Python int, `0 < k <= size`.
        shards: Python int dividing `size`.
        mesh: a `keras.distribution.DeviceMesh`, or None.
        axis_name: the name of the mesh axis that splits the last axis of
            `x`, given with `mesh`.

    Returns:
        `(values, indices)` of shape `(..., k)`, indices as `int32`.
    """
    size = x.shape[-1]
    if not 0 < k <= size:
        raise ValueError(
            f"Invalid value for `k`, expected 0 < k <= {size}, the last axis. "
            f"Received: k={k!r}"
        )
    if size % shards:
        raise ValueError(
            "Invalid value for `shards`, expected a divisor of the last axis "
            f"({size}). Received: shards={shards!r}"
        )
    block = size // shards
    per_block = min(k, block)
    leading = tuple(ops.shape(x)[:-1])
    rank = len(leading)
    blocks = ops.reshape(x, (*leading, shards, block))
    blocks = _laid_out(blocks, mesh, [None] * rank + [axis_name, None])
    values, local = _block_top_k(blocks, per_block, on_devices=mesh is not None)
    offsets = ops.arange(0, size, block, dtype="int32")[:, None]
    indices = ops.cast(local, "int32") + offsets
    values = ops.reshape(values, (*leading, shards * per_block))
    indices = ops.reshape(indices, (*leading, shards * per_block))
    values = _laid_out(values, mesh, [None] * (rank + 1))
    indices = _laid_out(indices, mesh, [None] * (rank + 1))
    top, at = ops.top_k(values, k)
    return top, ops.take_along_axis(indices, ops.cast(at, "int32"), axis=-1)


def _block_top_k(blocks, k, on_devices):
    """The top `k` of each block, lower indices first among ties.

    Blocks laid out on devices are ranked by a stable sort (of `-x`, so
    that ties keep index order), which XLA runs where each block lies; it
    gathers a `top_k`'s whole operand onto every device instead.
    """
    if not on_devices:
        return ops.top_k(blocks, k)
    order = ops.argsort(-blocks, axis=-1)[..., :k]
    return ops.take_along_axis(blocks, order, axis=-1), order


def _laid_out(tensor, mesh, axes):
    if mesh is None:
        return tensor
    layout = keras.distribution.TensorLayout(axes, mesh)
    return keras.distribution.distribute_tensor(tensor, layout)
