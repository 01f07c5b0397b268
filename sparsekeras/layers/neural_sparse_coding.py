"""The neural sparse coding algorithm of Arora, Ge, Ma & Moitra (2015)."""

import numbers

import keras
from keras import ops

from sparsekeras._ops.selection import keep, top_k_mask
from sparsekeras._replicas import rows_per_replica
from sparsekeras._validation import (
    check_bool,
    check_choice,
    check_float,
    check_float_dtype,
    check_int,
)
from sparsekeras.layers._atoms_from_data import rows_of, sampled_atoms
from sparsekeras.layers._masks import row_mask
from sparsekeras.layers._step import add_step_counter


def _check_learning_rate(value):
    """Returns a rate > 0 as a float, or a schedule (or its config's)."""
    if isinstance(value, dict):
        value = _deserialize_schedule(value)
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return _check_schedule(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            "Invalid type for `learning_rate`, expected a number or a "
            "`keras.optimizers.schedules.LearningRateSchedule`. "
            f"Received: learning_rate={value!r} of type "
            f"{type(value).__name__}"
        )
    return check_float("learning_rate", value, minimum=0.0, exclusive=True)


def _deserialize_schedule(config):
    schedule = keras.optimizers.schedules.deserialize(config)
    # Keras returns an unknown class's name rather than raising.
    if not isinstance(
        schedule, keras.optimizers.schedules.LearningRateSchedule
    ):
        raise ValueError(
            "Invalid value for `learning_rate`, expected a serialized "
            "`keras.optimizers.schedules.LearningRateSchedule`, but its "
            f"class {config.get('class_name')!r} is not a known schedule "
            "(register a custom one with "
            "`keras.saving.register_keras_serializable`). "
            f"Received: learning_rate={config!r}"
        )
    return schedule


def _check_schedule(schedule):
    """Returns `schedule` if its first rate, `schedule(0)`, is usable."""
    try:
        initial = float(ops.convert_to_numpy(schedule(0)))
    # A schedule is user code: whatever it raises, name the argument.
    except Exception as error:
        raise ValueError(
            "Invalid value for `learning_rate`, expected a schedule that "
            "can be evaluated at step 0 (learning_rate(0) raised "
            f"{type(error).__name__}: {error}). Received: learning_rate="
            f"{type(schedule).__name__}(...)"
        ) from error
    try:
        check_float("learning_rate", initial, minimum=0.0, exclusive=True)
    except ValueError:
        raise ValueError(
            "Invalid value for `learning_rate`, expected a schedule whose "
            "initial rate `learning_rate(0)` is a number > 0, "
            "representable as a normal float32. Received: learning_rate="
            f"{type(schedule).__name__}(...) with learning_rate(0)={initial}"
        ) from None
    return schedule


def _unit_columns(matrix):
    """`matrix` with each column divided by its norm, and the bad columns.

    The norm is taken of the column scaled by its largest finite entry, so
    it neither overflows nor underflows. A column whose norm is 0 or
    infinite has no direction to keep, and is flagged in the returned
    `(1, columns)` bool mask; a column holding NaN is not flagged, and
    comes out NaN.
    """
    finite = ops.where(ops.isfinite(matrix), ops.abs(matrix), 0.0)
    scale = ops.max(finite, axis=0, keepdims=True)
    scaled = matrix / ops.where(scale > 0, scale, 1.0)
    norm = ops.sqrt(ops.sum(ops.square(scaled), axis=0, keepdims=True))
    unit = scaled / ops.where(norm > 0, norm, 1.0)
    has_nan = ops.any(ops.isnan(matrix), axis=0, keepdims=True)
    has_inf = ops.any(ops.isinf(matrix), axis=0, keepdims=True)
    return unit, (has_inf | (scale == 0)) & ~has_nan


@keras.saving.register_keras_serializable(package="sparsekeras")
class NeuralSparseCoding(keras.layers.Layer):
    """Sparse codes over a dictionary learned by a neural, Hebbian-like rule.

    The layer holds a dictionary `A` of shape `(input_dim, units)` with
    unit-norm columns (the atoms), and codes a batch `Y` in one step,
    `X = hard_threshold(Y A)`: entries below `threshold` in magnitude are
    zeroed, or all but the `k` largest. `refine_steps` then takes that many
    gradient steps on `||y - A x||^2 / 2` over the kept entries (mask `M`),
    with a per-row step `eta_r` at most one over the largest eigenvalue of
    the kept atoms' Gram matrix, so they converge to least squares:

        X <- X + M * (eta_r (Y - X A^T) A)

    A training call also moves the dictionary one step of the paper's
    neural update (`X` in place of `sign(X)` for `"olshausen_field"`):

        A <- normalize(A + eta * (Y - X A^T)^T sign(X) / batch)

    with `eta = learning_rate` (or `learning_rate(step)` for a schedule).
    The dictionary is a non-trainable weight updated in `call` in float32,
    as BatchNormalization updates its moving statistics. Choosing the rate,
    schedules, refinement and pitfalls: the
    [NeuralSparseCoding page][neural-sparse-coding-page]. A Keras mask
    (one boolean per row) gives its masked rows zero codes and leaves them
    out of the update, whose mean is over the unmasked rows. NaN, empty
    batches and integer inputs: the [shared rules][shared-rules].

    Args:
        units: positive integer, the number of atoms `m`.
        threshold: number > 0, or `None`. Entries of `A^T y` smaller than
            it in magnitude are zeroed. Exactly one of `threshold` and `k`
            must be given.
        k: positive integer <= `units`, or `None`. The number of entries of
            largest magnitude kept per row.
        learning_rate: number > 0, defaults to `1.0`, or a
            `keras.optimizers.schedules.LearningRateSchedule` (or its
            serialized dict) called with the training step. The rate `eta`
            of the batch-mean update.
        refine_steps: integer >= 0, defaults to `0`. The number of
            gradient steps that refine the codes on their kept entries,
            in training and inference alike; `0` keeps the one-step codes.
        normalize: bool, defaults to `True`: renormalise after updates.
        update: `"neural"` (the default) for the update with `sign(x)`, or
            `"olshausen_field"` for the update with `x`.
        output_mode: `"codes"` (the default) to output the sparse codes
            `x`, or `"reconstruction"` to output `A x`.
        dictionary_initializer: initializer for the dictionary, defaults to
            `"random_normal"` (atoms uniform on the sphere once scaled to
            unit norm). One giving a zero or non-finite column is refused
            at build.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        2D tensor `(batch_size, input_dim)`, `input_dim` known.

    Output shape:
        `(batch_size, units)` for `output_mode="codes"`,
        `(batch_size, input_dim)` for `output_mode="reconstruction"`.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from sparsekeras.layers import NeuralSparseCoding
    >>> layer = NeuralSparseCoding(3, k=1, learning_rate=0.5)
    >>> layer.build((None, 2))
    >>> _ = layer.dictionary.assign([[1.0, 0.0, 0.6], [0.0, 1.0, 0.8]])
    >>> y = np.array([[2.0, 0.5]], dtype="float32")
    >>> codes = layer(y, training=True)
    >>> keras.ops.convert_to_numpy(codes)
    array([[2., 0., 0.]], dtype=float32)
    >>> keras.ops.convert_to_numpy(layer.dictionary).round(4)
    array([[0.9701, 0.    , 0.6   ],
           [0.2425, 1.    , 0.8   ]], dtype=float32)

    Reference:
        - [Arora, Ge, Ma & Moitra, 2015. Simple, Efficient, and Neural
          Algorithms for Sparse Coding](https://arxiv.org/abs/1503.00778)
    """

    def __init__(
        self,
        units,
        *,
        threshold=None,
        k=None,
        learning_rate=1.0,
        refine_steps=0,
        normalize=True,
        update="neural",
        output_mode="codes",
        dictionary_initializer="random_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_float_dtype(self)
        # The layer casts its inputs to float32 itself; Keras's autocast
        # would first round them to a mixed policy's compute dtype, and
        # `call` would see other signals than `encode`.
        self.autocast = False
        self.units = check_int("units", units, minimum=1)
        self.threshold = check_float(
            "threshold", threshold, minimum=0.0, exclusive=True, allow_none=True
        )
        self.k = check_int("k", k, minimum=1, allow_none=True)
        if (self.threshold is None) == (self.k is None):
            raise ValueError(
                "Invalid arguments, expected exactly one of `threshold` and "
                f"`k`. Received: threshold={threshold!r}, k={k!r}"
            )
        if self.k is not None and self.k > self.units:
            raise ValueError(
                "Invalid value for `k`, expected an integer <= `units` "
                f"({self.units}). Received: k={k!r}"
            )
        self.learning_rate = _check_learning_rate(learning_rate)
        self.refine_steps = check_int("refine_steps", refine_steps, minimum=0)
        self.normalize = check_bool("normalize", normalize)
        self.update = check_choice(
            "update", update, ("neural", "olshausen_field")
        )
        self.output_mode = check_choice(
            "output_mode", output_mode, ("codes", "reconstruction")
        )
        if dictionary_initializer is None:
            raise ValueError(
                "Invalid value for `dictionary_initializer`, expected an "
                "initializer (its name, config or instance), such as "
                "'random_normal'. Received: dictionary_initializer=None"
            )
        self.dictionary_initializer = keras.initializers.get(
            dictionary_initializer
        )
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                "Invalid input shape for `NeuralSparseCoding`, expected a "
                "rank 2 input (batch_size, input_dim). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        input_dim = input_shape[-1]
        if input_dim is None or input_dim < 1:
            raise ValueError(
                "Invalid input shape for `NeuralSparseCoding`, expected the "
                "last axis (input_dim) to be defined and positive. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.dictionary = self.add_weight(
            name="dictionary",
            shape=(input_dim, self.units),
            initializer=self._unit_norm_atoms,
            dtype="float32",
            trainable=False,
            autocast=False,
            aggregation="mean",
        )
        if self._scheduled():
            self.step = add_step_counter(self)
        self.input_spec = keras.InputSpec(ndim=2, axes={-1: input_dim})

    def _scheduled(self):
        return isinstance(
            self.learning_rate, keras.optimizers.schedules.LearningRateSchedule
        )

    def _unit_norm_atoms(self, shape, dtype=None):
        atoms, degenerate = _unit_columns(
            self.dictionary_initializer(shape, dtype)
        )
        bad = ops.convert_to_numpy(
            degenerate[0] | ops.any(ops.isnan(atoms), axis=0)
        )
        if bad.any():
            raise ValueError(
                "Invalid value for `dictionary_initializer`, expected an "
                "initializer whose every atom (column) has a finite, "
                "nonzero norm, so it can be scaled to unit norm; "
                f"{int(bad.sum())} of the {shape[1]} atoms have none (the "
                f"first: {bad.nonzero()[0][:5].tolist()}). 'identity' "
                "gives zero atoms when `units` > input_dim, 'zeros' only "
                "zero atoms. Received: dictionary_initializer="
                f"{keras.initializers.serialize(self.dictionary_initializer)}"
            )
        return atoms

    def call(self, inputs, training=None, mask=None):
        signals = ops.cast(inputs, "float32")
        # A copy, not a read: the outputs and their gradients must use the
        # dictionary from before the step, and PyTorch's assign writes into
        # the storage a plain read would share.
        dictionary = ops.copy(self.dictionary)
        codes = self._encode(signals, dictionary)
        rows_kept = row_mask(mask, signals)
        if rows_kept is not None:
            codes = keep(codes, rows_kept)
        reconstruction = ops.matmul(codes, ops.transpose(dictionary))
        if training and self.trainable:
            residuals = signals - reconstruction
            if rows_kept is not None:
                residuals = keep(residuals, rows_kept)
            self._learn(residuals, codes, dictionary, rows_kept)
            if self._scheduled():
                self.step.assign_add(1)
        if self.output_mode == "codes":
            return ops.cast(codes, self.compute_dtype)
        return ops.cast(reconstruction, self.compute_dtype)

    def encode(self, inputs):
        """Returns the codes of `inputs` without touching the dictionary.

        The same codes a call with `training=False` returns when
        `output_mode="codes"`, whatever the layer's `output_mode`: this is
        how an autoencoder built with `output_mode="reconstruction"` gives
        its codes.

        Args:
            inputs: tensor of shape `(batch_size, input_dim)`.

        Returns:
            Tensor of shape `(batch_size, units)` in the layer's compute
            dtype.
        """
        codes = self._encode(ops.cast(inputs, "float32"), self.dictionary)
        return ops.cast(codes, self.compute_dtype)

    def _encode(self, signals, dictionary):
        correlations = ops.matmul(signals, dictionary)
        keep = self._kept(correlations)
        zeros = ops.zeros_like(correlations)
        codes = ops.where(keep, correlations, zeros)
        if self.refine_steps:
            rate = _refinement_rate(keep, dictionary)
        for _ in range(self.refine_steps):
            residuals = signals - ops.matmul(codes, ops.transpose(dictionary))
            codes = ops.where(
                keep, codes + rate * ops.matmul(residuals, dictionary), zeros
            )
        return codes

    def _kept(self, correlations):
        if self.k is None:
            # NaN fails every comparison; keeping it shows it in the codes
            # instead of hiding it behind a zero.
            return (ops.abs(correlations) >= self.threshold) | ops.isnan(
                correlations
            )
        return top_k_mask(ops.abs(correlations), self.k, self.k)

    def _learn(self, residuals, codes, dictionary, rows_kept=None):
        """`A <- A + eta * R^T sign(X) / batch` (or `R^T X`), renormalised.

        Under a `tf.distribute` strategy each replica computes the step of
        its own rows, and the dictionary's `"mean"` aggregation makes
        `assign_add` add the mean of the replicas' steps, once. Dividing
        each replica's sum by the replicas' mean batch size (not its own)
        makes that mean the step of the global batch, even when the last
        batch of an epoch splits unevenly. Renormalising comes second, once
        every replica holds the same dictionary: one `assign` of each
        replica's renormalised dictionary would average normalised
        dictionaries, which is not the normalised mean. `dictionary` is the
        dictionary before the step, for the atoms that cannot take it.
        Masked rows (zero residuals and codes) add nothing and are not
        counted: the step is the mean over the unmasked rows (under
        `tf.distribute`, exactly so when every replica masks the same
        share of its rows).
        """
        hebbian = ops.sign(codes) if self.update == "neural" else codes
        rows = rows_per_replica(residuals)
        if rows_kept is not None:
            unmasked = ops.mean(ops.cast(rows_kept, "float32"))
            rows = rows * ops.where(ops.isnan(unmasked), 0.0, unmasked)
        # divide_no_nan: an empty batch steps by zero rather than NaN.
        step = ops.divide_no_nan(
            ops.matmul(ops.transpose(residuals), hebbian), rows
        )
        self.dictionary.assign_add(self._rate() * step)
        stepped = ops.convert_to_tensor(self.dictionary)
        unit, degenerate = _unit_columns(stepped)
        # An atom the step overflowed (or zeroed) stays as it was: it has
        # no direction to keep, and an inf would spread NaN to its codes.
        self.dictionary.assign(
            ops.where(
                degenerate, dictionary, unit if self.normalize else stepped
            )
        )

    def _rate(self):
        if self._scheduled():
            return ops.cast(self.learning_rate(self.step), "float32")
        return ops.cast(self.learning_rate, "float32")

    def decode(self, codes):
        """Returns the reconstruction `A x` of `codes`, i.e. `codes @ A^T`.

        Args:
            codes: tensor of shape `(batch_size, units)`.

        Returns:
            Tensor of shape `(batch_size, input_dim)` in the layer's compute
            dtype, computed with the current dictionary.
        """
        reconstruction = ops.matmul(
            ops.cast(codes, "float32"), ops.transpose(self.dictionary)
        )
        return ops.cast(reconstruction, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "codes":
            return (input_shape[0], self.units)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "threshold": self.threshold,
                "k": self.k,
                "learning_rate": (
                    keras.optimizers.schedules.serialize(self.learning_rate)
                    if self._scheduled()
                    else self.learning_rate
                ),
                "refine_steps": self.refine_steps,
                "normalize": self.normalize,
                "update": self.update,
                "output_mode": self.output_mode,
                "dictionary_initializer": keras.initializers.serialize(
                    self.dictionary_initializer
                ),
            }
        )
        return config

    def adapt(self, data, batch_size=None, steps=None, seed=0):
        """Sets the atoms to normalised samples of `data`, chosen at random.

        Builds the layer from `data`'s shape if it is not built, then sets
        the dictionary's `units` columns to `units` distinct samples of
        `data`, each divided by its norm; samples of norm zero are skipped,
        and no two atoms are equal (a draw holding two samples of the same
        direction is made again among the distinct directions, where
        duplicates count once). A start from data, the
        practical analogue of the paper's initialisation, instead of
        random atoms.

        Args:
            data: NumPy array or backend tensor `(samples, input_dim)` of
                real numbers (complex data is refused with a `TypeError`),
                with at least `units` samples of nonzero norm and distinct
                directions.
            batch_size: positive integer or `None`; with `steps`, the size
                of the batches read (defaults to 32).
            steps: positive integer or `None` (all of `data`), the number
                of batches of `batch_size` samples read from the start.
            seed: integer >= 0, defaults to `0`: which samples are chosen.

        Example:

        >>> import numpy as np
        >>> layer = NeuralSparseCoding(2, k=1)
        >>> layer.adapt(np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 2.0]]))
        >>> keras.ops.convert_to_numpy(layer.dictionary)
        array([[0.6, 0. ],
               [0.8, 1. ]], dtype=float32)
        """
        rows = rows_of(data, batch_size=batch_size, steps=steps)
        if not self.built:
            self.build((None, rows.shape[1]))
        input_dim = self.dictionary.shape[0]
        if rows.shape[1] != input_dim:
            raise ValueError(
                "Invalid shape for `data`, expected samples of the layer's "
                f"input_dim ({input_dim}). Received: data.shape={rows.shape}"
            )
        self.dictionary.assign(sampled_atoms(rows, self.units, seed))


def _refinement_rate(keep, dictionary):
    """The step size `1 / L` of each row's refinement, shape `(batch, 1)`.

    `L` bounds the largest eigenvalue of the kept atoms' Gram matrix
    `A_S^T A_S` by Gershgorin's theorem: the largest sum of `|A_i . A_j|`
    over `j` in `S`, for `i` in `S`. Gradient descent with a step of at
    most `1 / L` never moves the codes away from the least-squares codes on
    `S`. A row with no kept entry gets 0.
    """
    gram = ops.abs(ops.matmul(ops.transpose(dictionary), dictionary))
    kept = ops.cast(keep, "float32")
    # `top_k` rather than `max`, which refuses an empty batch.
    bound, _ = ops.top_k(ops.matmul(kept, gram) * kept, 1)
    return ops.divide_no_nan(ops.ones_like(bound), bound)
