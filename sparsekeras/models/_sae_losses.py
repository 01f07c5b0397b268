"""The loss terms of `SparseAutoencoder`, as pure functions of tensors."""

from keras import ops

from sparsekeras._replicas import replica_mean


def squared_error(target, prediction):
    """The batch mean of the squared L2 error of each row, in float32."""
    # Each cast before the difference: a bf16 difference would round.
    error = ops.cast(target, "float32") - ops.cast(prediction, "float32")
    return ops.mean(ops.sum(ops.square(error), axis=-1))


def prefix_squared_errors(target, codes, decoder, offset, groups):
    """Matryoshka's reconstruction errors of the inner prefixes, summed.

    Prefix `j` decodes with the latents of groups `1..j` alone,
    `x_hat_j = z[:, :m_j] W_dec[:m_j] + b_pre` (`m_j` the sum of the first
    `j` group sizes); every prefix but the whole dictionary (the last,
    whose error the caller has) adds its `squared_error`. The partial
    reconstructions are accumulated group by group: one product of the
    full width in all.

    Args:
        target: `(batch_size, input_dim)`, the inputs `x`.
        codes: `(batch_size, units)`, the codes `z`.
        decoder: `(units, input_dim)`, `W_dec`.
        offset: `(input_dim,)` or None, `b_pre`.
        groups: the group sizes, summing to `units`.

    Returns:
        float32 scalar.
    """
    total = ops.zeros((), "float32")
    reconstruction = None
    start = 0
    for size in groups[:-1]:
        part = ops.matmul(
            codes[:, start : start + size], decoder[start : start + size]
        )
        reconstruction = (
            part if reconstruction is None else (reconstruction + part)
        )
        start += size
        shifted = reconstruction if offset is None else reconstruction + offset
        total = total + squared_error(target, shifted)
    return total


def warmup_coefficient(coefficient, step, warmup_steps):
    """`λ min(1, t / W)`: the coefficient's linear warm-up at step `t`.

    `t` counts the training steps taken before this one (0 at the first),
    so the first step has no penalty when `W > 0`; `W = 0` gives `λ`.
    """
    if warmup_steps == 0:
        return ops.convert_to_tensor(coefficient, "float32")
    ramp = ops.minimum(ops.cast(step, "float32") / warmup_steps, 1.0)
    return coefficient * ramp


def global_statistics(targets, fired=None):
    """The total variance of each target, and `fired`, over all replicas.

    Two passes, so that data far from zero keeps its float32 precision
    (`E[x^2] - E[x]^2` loses it all for an offset of 1000 and a spread
    of 0.01): the global batch's mean of each target, then the mean of its
    squared deviations from that mean. Under `tf.distribute` each pass is
    one all-reduce of the replicas' sums, which also carries the row count
    and `fired` (which becomes the replicas' mean); with no strategy, and
    on JAX, whose `DataParallel` traces the global batch, the sums are the
    batch's own.

    Returns:
        `(variances, fired)`, one variance (a float32 scalar) per target.
    """
    targets = [ops.cast(ops.stop_gradient(t), "float32") for t in targets]
    rows = ops.cast(ops.shape(targets[0])[0], "float32")
    fired = ops.zeros((0,), "float32") if fired is None else fired
    units = fired.shape[0]
    first = replica_mean(
        ops.concatenate(
            [ops.reshape(rows, (1,)), fired]
            + [ops.sum(target, axis=0) for target in targets]
        )
    )
    rows, fired = first[0], first[1 : 1 + units]
    means = ops.split(first[1 + units :] / rows, len(targets))
    squares = replica_mean(
        ops.stack(
            [
                ops.sum(ops.square(target - mean))
                for target, mean in zip(targets, means, strict=True)
            ]
        )
    )
    return ops.unstack(squares / rows), fired


def fvu(target, prediction):
    """Squared error over the variance of `target`, both batch means.

    Under `tf.distribute` the variance is the global batch's (an
    all-reduce), so the replicas' mean loss is the global batch's. Without
    variance (one row, identical rows) it is inf or NaN, never 0.
    """
    error = squared_error(target, prediction)
    (variance,), _ = global_statistics([target])
    return ops.divide(error, variance)
