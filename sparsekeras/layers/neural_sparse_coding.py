"""The neural sparse coding algorithm of Arora, Ge, Ma & Moitra (2015)."""

import numbers

import keras
from keras import ops

from sparsekeras._replicas import rows_per_replica
from sparsekeras._validation import (
    check_bool,
    check_choice,
    check_float,
    check_int,
)
from sparsekeras.layers._atoms_from_data import rows_of, sampled_atoms
from sparsekeras.layers._selection import top_k_mask


def _check_learning_rate(value):
    """Returns a rate > 0 as a float, or a schedule (or its config's)."""
    if isinstance(value, dict):
        value = keras.optimizers.schedules.deserialize(value)
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            "Invalid type for `learning_rate`, expected a number or a "
            "`keras.optimizers.schedules.LearningRateSchedule`. "
            f"Received: learning_rate={value!r} of type "
            f"{type(value).__name__}"
        )
    return check_float("learning_rate", value, minimum=0.0, exclusive=True)


@keras.saving.register_keras_serializable(package="sparsekeras")
class NeuralSparseCoding(keras.layers.Layer):
    """Sparse codes over a dictionary learned by a neural, Hebbian-like rule.

    The layer holds a dictionary `A` of shape `(input_dim, units)` whose
    columns (the atoms) have unit norm. Each input row `y` is decoded in one
    step, `x = hard_threshold(A^T y)`: with `threshold`, entries with
    `|value| < threshold` become zero; with `k`, exactly the `k` entries of
    largest magnitude are kept (among ties, the lower indices first). For a
    batch `Y` of shape `(batch, input_dim)` the codes are
    `X = hard_threshold(Y A)`, of shape `(batch, units)`. With
    `refine_steps=s`, the codes are then refined `s` times on the entries
    that `hard_threshold` kept (the mask `M`):

        X <- X + M * ((Y - X A^T) A)        (elementwise `*`)

    steps of gradient descent on `||y - A x||^2 / 2` over the kept entries
    `S` of each row, which take `x_S` toward the least-squares codes
    `(A_S^T A_S)^-1 A_S^T y` (they converge to them when the eigenvalues
    of `A_S^T A_S` lie between 0 and 2, as they do for a few incoherent
    atoms).

    Each call with `training=True` also moves the dictionary one step of the
    paper's neural update, the batch mean of `(y - A x) sign(x)^T`:

        R = Y - X A^T
        A <- A + eta * R^T sign(X) / batch
        A <- A with every column divided by its norm   (if `normalize`)

    where `eta` is `learning_rate`, or `learning_rate(t)` when it is a
    schedule (below).

    `update="olshausen_field"` uses `X` in place of `sign(X)`, the rule of
    Olshausen & Field that the paper analyses beside its own. The codes (or
    the reconstruction) returned are computed with the dictionary as it was
    before the step. The dictionary is a non-trainable weight: no gradient
    reaches it, it learns by this rule alone inside an ordinary `model.fit`,
    with no reconstruction loss needed. The step is a variable assignment in
    `call`, computed in float32 under any dtype policy, as
    BatchNormalization updates its moving statistics, so it runs inside
    `tf.function` and JAX `jit`. As with BatchNormalization, a layer with
    `trainable = False` is frozen: training calls leave its dictionary as
    it is. Gradients do flow from the codes to the inputs (through the kept
    entries of `Y A` and any refinement steps), so the layer may follow
    trainable layers.

    Under data parallelism the dictionary takes the step of the global
    batch, once per training step: with `tf.distribute` each replica steps
    by its rows and the dictionary (a `"mean"`-aggregated variable) adds
    the replicas' mean step, then renormalises; JAX's
    `keras.distribution.DataParallel` computes the step on the global batch.
    Either way it matches one device on the same global batches.

    On choosing `learning_rate`: an atom is active in about `k / m` of the
    rows (`k` active atoms per row, `m = units`), so one batch moves it by
    a fraction `c = learning_rate * (k / m) * E|x_i|` of its distance to
    the atom it converges to, `x_i` being its code where it is active
    (`E[x_i^2]` in place of `E|x_i|` for `"olshausen_field"`). The paper
    takes the rate of order `m / k`, i.e. a constant `c`. A small `c` is
    stable and settles close; a large one settles noisily (as an atom
    sees only `batch * k / m` rows per batch) or diverges. The default,
    `1.0`, is on the cautious side. For incoherent atoms with
    `m / k = 256` and `|x_i|` between 1 and 2 (`c` about 0.006) it brings
    atoms 0.3 away from the truth to within 0.1 of it in about 300 batches
    of 128; `learning_rate=4` (`c` about 0.02) does it in under 100
    batches of 256. On MNIST digits with the pixel mean removed
    (`units=256, k=20`) it trains without diverging, though `0.1` to `0.5`
    reconstruct better and `2` diverges. Raw, uncentred pixels need about
    `0.1`: their atoms grow alike, so that `A^T y` overshoots.

    A constant rate leaves every atom jittering about its fixed point, the
    more the larger `c`. A `keras.optimizers.schedules.LearningRateSchedule`
    as `learning_rate` lowers the rate as training goes on: step `t` (the
    number of earlier training calls, counted by the non-trainable integer
    weight `step`, which only a layer with a schedule has) uses
    `learning_rate(t)`. A large rate then recovers a dictionary quickly and
    a small one settles it closely. `step` is saved with the model, so a
    resumed training continues the schedule, and the rate is a tensor, so
    it changes without retracing a compiled train step. Under
    `tf.distribute`, `step` counts global steps (only the first replica's
    increment is kept), as `KSparse`'s does.

    A schedule alone stops short of the truth, for the update with one-step
    codes is biased: `A^T y` gives each active atom `j` its code plus the
    cross-talk `<A_j, A_i> x_i` of every other active atom `i`, and the
    update of `A_i` subtracts `A_j <A_j, A_i> |x_i|` on average, so the true
    dictionary is not a fixed point. Arora et al. describe this systematic
    bias, and a modified update that removes it. `refine_steps` removes it
    at its source instead: least-squares codes on the true support of a
    signal of the true dictionary are exact, and the residual is zero. In
    the theorem's setting (`n = 512`, `m = 1024`, `k = 4`, atoms 0.3 from
    the truth, batches of 4096, `threshold=0.5`), after 66 batches
    `InverseTimeDecay(128.0, decay_steps=6, decay_rate=1.0)`, the rate
    `128 / (1 + t / 6)`, leaves the worst atom 0.034 from the truth, and
    `refine_steps=2` with `128 / (1 + t / 12)` 0.005. Each refinement step
    costs two more matrix products the size of `Y A`.

    With `output_mode="reconstruction"`, `Input -> NeuralSparseCoding` compiled
    with `loss="mse"` and fitted on `(x, x)` reports the reconstruction
    cost as its loss while the dictionary learns. Such a model has no
    trainable weights, and Keras's TensorFlow and PyTorch trainers warn
    "The model does not have any trainable weights." each `fit`; the
    warning is harmless here.

    Integer and bool inputs are cast to float32, as floating ones are. An
    empty batch gives empty codes and steps the dictionary by zero. NaN in,
    NaN out: a NaN in a row makes every entry of its `A^T y` NaN, which is
    kept (the first `k` entries with `k`, all with `threshold`), so its
    codes show the NaN; in training the step then turns the dictionary NaN,
    as a NaN batch does to BatchNormalization's moving statistics.

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
            of the batch-mean update; see above for how to choose it.
        refine_steps: integer >= 0, defaults to `0`. The number of
            gradient steps that refine the codes on their kept entries,
            in training and inference alike; `0` keeps the one-step codes.
        normalize: bool, defaults to `True`. Whether the atoms are
            renormalised to unit norm after each update.
        update: `"neural"` (the default) for the update with `sign(x)`, or
            `"olshausen_field"` for the update with `x`.
        output_mode: `"codes"` (the default) to output the sparse codes
            `x`, or `"reconstruction"` to output `A x`.
        dictionary_initializer: initializer for the dictionary, defaults to
            `"random_normal"`; its columns are then scaled to unit norm, so
            the default draws atoms uniformly from the sphere.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        2D tensor `(batch_size, input_dim)`, `input_dim` known and
        positive; any other shape raises a `ValueError` when the layer is
        built.

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
    >>> keras.ops.convert_to_numpy(layer.decode(codes)).round(4)
    array([[1.9403, 0.4851]], dtype=float32)
    >>> keras.ops.convert_to_numpy(layer.dictionary).round(4)
    array([[0.9701, 0.    , 0.6   ],
           [0.2425, 1.    , 0.8   ]], dtype=float32)

    Here the residual `y - A x = [0, 0.5]` moved the active atom from
    `[1, 0]` to `[1, 0.25]` before renormalisation.

    Refined codes and a decaying rate: `y` below is the sum of the first
    and third atoms, whose one-step codes, 1.28, carry the cross-talk
    `0.28` of each other; two refinement steps bring them to 1.022.

    >>> schedule = keras.optimizers.schedules.InverseTimeDecay(
    ...     1.0, decay_steps=1, decay_rate=1.0
    ... )
    >>> layer = NeuralSparseCoding(
    ...     3, k=2, learning_rate=schedule, refine_steps=2
    ... )
    >>> layer.build((None, 2))
    >>> _ = layer.dictionary.assign([[1.0, 0.0, 0.28], [0.0, 1.0, 0.96]])
    >>> y = np.array([[1.28, 0.96]], dtype="float32")
    >>> keras.ops.convert_to_numpy(layer(y, training=True)).round(4)
    array([[1.022, 0.   , 1.022]], dtype=float32)
    >>> int(keras.ops.convert_to_numpy(layer.step))
    1
    >>> float(layer.learning_rate(layer.step))
    0.5

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
        self.dictionary_initializer = keras.initializers.get(
            dictionary_initializer
        )

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
            self.step = self.add_weight(
                name="step",
                shape=(),
                initializer="zeros",
                dtype="int",
                trainable=False,
                autocast=False,
                aggregation="only_first_replica",
            )

    def _scheduled(self):
        return isinstance(
            self.learning_rate, keras.optimizers.schedules.LearningRateSchedule
        )

    def _unit_norm_atoms(self, shape, dtype=None):
        return ops.normalize(self.dictionary_initializer(shape, dtype), axis=0)

    def call(self, inputs, training=None):
        signals = ops.cast(inputs, "float32")
        # A copy, not a read: the outputs and their gradients must use the
        # dictionary from before the step, and PyTorch's assign writes into
        # the storage a plain read would share.
        dictionary = ops.copy(self.dictionary)
        codes = self._encode(signals, dictionary)
        reconstruction = ops.matmul(codes, ops.transpose(dictionary))
        if training and self.trainable:
            self._learn(signals - reconstruction, codes)
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
        for _ in range(self.refine_steps):
            residuals = signals - ops.matmul(codes, ops.transpose(dictionary))
            codes = ops.where(
                keep, codes + ops.matmul(residuals, dictionary), zeros
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

    def _learn(self, residuals, codes):
        """`A <- A + eta * R^T sign(X) / batch` (or `R^T X`), renormalised.

        Under a `tf.distribute` strategy each replica computes the step of
        its own rows, and the dictionary's `"mean"` aggregation makes
        `assign_add` add the mean of the replicas' steps, once. Dividing
        each replica's sum by the replicas' mean batch size (not its own)
        makes that mean the step of the global batch, even when the last
        batch of an epoch splits unevenly. Renormalising comes second, once
        every replica holds the same dictionary: one `assign` of each
        replica's renormalised dictionary would average normalised
        dictionaries, which is not the normalised mean.
        """
        hebbian = ops.sign(codes) if self.update == "neural" else codes
        # divide_no_nan: an empty batch steps by zero rather than NaN.
        step = ops.divide_no_nan(
            ops.matmul(ops.transpose(residuals), hebbian),
            rows_per_replica(residuals),
        )
        self.dictionary.assign_add(self._rate() * step)
        if self.normalize:
            self.dictionary.assign(ops.normalize(self.dictionary, axis=0))

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
        `data`, each divided by its norm; samples of norm zero are skipped.
        A start from data, the practical analogue of the paper's
        initialisation, instead of random atoms.

        Args:
            data: NumPy array or backend tensor `(samples, input_dim)`,
                with at least `units` samples of nonzero norm.
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
