"""Sparse autoencoders (TopK, BatchTopK, JumpReLU, Matryoshka) and their
mitigations against dead latents."""

import math
import random

import keras
import numpy as np
from keras import ops

from sparsekeras._ops.sharded_top_k import output_shards, top_k_over
from sparsekeras._validation import (
    INT32_MAX,
    check_bool,
    check_choice,
    check_float,
    check_int,
)
from sparsekeras.layers._step import add_step_counter
from sparsekeras.layers.batch_top_k import BatchTopK
from sparsekeras.layers.jump_relu import JumpReLU
from sparsekeras.layers.ksparse import KSparse
from sparsekeras.metrics import FVU
from sparsekeras.models import _input_scale
from sparsekeras.models._sae_losses import (
    fvu,
    global_statistics,
    prefix_squared_errors,
    squared_error,
    warmup_coefficient,
)
from sparsekeras.models.matryoshka import check_matryoshka_groups

ACTIVATIONS = ("topk", "batch_topk", "jumprelu")
PRE_BIASES = ("geometric_median", "mean", None)
SPARSITY_PENALTIES = ("l0", "tanh", "quadratic")
DEAD_AFTER_MAX = 2**30
# The arguments of `activation="jumprelu"` alone, and their defaults.
JUMPRELU_DEFAULTS = {
    "initial_threshold": 0.001,
    "bandwidth": 0.001,
    "sparsity_penalty": "l0",
    "sparsity_coefficient": 1e-3,
    "sparsity_warmup_steps": 0,
    "target_l0": None,
}


@keras.saving.register_keras_serializable(package="sparsekeras")
class SparseAutoencoder(keras.Model):
    """A sparse autoencoder (TopK, BatchTopK or JumpReLU, optionally
    Matryoshka), trained by `fit(x)` with no targets.

        z = σ(W_enc (x - b_pre) + b_enc),   x_hat = W_dec z + b_pre,
        loss = FVU(x, x_hat) + aux_coefficient * AuxK  [+ λ_t * S(z)],

    σ is `TopK(ReLU(.))`, `BatchTopK(ReLU(.))` or `JumpReLU_θ`; AuxK
    reconstructs the residual from the top `aux_k` dead latents; with
    `matryoshka_groups` the FVU is summed over nested prefixes; `S` is
    JumpReLU's warmed-up sparsity penalty. Calling the model gives the
    reconstruction, so it nests in other models; `compile` takes no `loss`
    and `fit` no `y`. Every term, mitigation and architecture, and which
    to pick, is in [Sparse autoencoders](sparse-autoencoders.md).

    Args:
        units: positive integer, the number of latents.
        k: positive integer, the latents kept per sample (on average for
            `"batch_topk"`); `None`, and only `None`, for `"jumprelu"`.
        activation: `"topk"` (default), `"batch_topk"` or `"jumprelu"`.
        tied_init: bool, default `True`: the encoder starts as the
            decoder's transpose.
        unit_norm_decoder: bool, default `True`: unit decoder columns.
        pre_bias: `"geometric_median"` (default), `"mean"` or `None`: a
            trainable `b_pre`, set from data by `adapt(x)`.
        dead_after: integer in `[1, 2**30]`, default `100_000`: samples
            without firing after which a latent is dead.
        aux_k: integer >= 0 or `None` (default: half the input size, at
            most `units`); `0` turns AuxK off.
        aux_coefficient: number >= 0, default `1/32`.
        matryoshka_groups: `None` (default) or positive group sizes
            summing to `units` (`matryoshka_group_sizes(units)`).
        initial_threshold: positive number, default `0.001`: θ at the
            start. This and the five below are for `"jumprelu"` only.
        bandwidth: positive number, default `0.001`: ε.
        sparsity_penalty: `"l0"` (default), `"tanh"` or `"quadratic"`
            (`(2 / L0*) (mean L0 - L0*)^2` on the batch, toward
            `target_l0`).
        sparsity_coefficient: number >= 0, default `1e-3`: λ.
        sparsity_warmup_steps: integer >= 0, default `0`: steps over which
            λ rises linearly from 0.
        target_l0: positive number L0*, for `"quadratic"` only (required).
        normalize_inputs: bool, default `False`: `adapt(x)` also measures
            a scale `s` giving the inputs a mean norm of `sqrt(input_dim)`;
            every method takes and returns raw inputs.
        **kwargs: base model keyword arguments, such as `name`.

    Example:

    >>> import keras, numpy as np
    >>> from sparsekeras.models import SparseAutoencoder
    >>> x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> sae = SparseAutoencoder(units=16, k=2)
    >>> sae.adapt(x)
    >>> sae.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> history = sae.fit(x, batch_size=32, epochs=1, verbose=0)
    >>> sorted(history.history)
    ['dead_fraction', 'fvu', 'l0', 'loss']
    >>> tuple(sae.dictionary.shape), tuple(sae.encode(x).shape)
    ((8, 16), (64, 16))

    Reference:
        - [Gao et al., 2024. Scaling and evaluating sparse autoencoders](
          https://arxiv.org/abs/2406.04093)
        - [Bussmann et al., 2024. BatchTopK Sparse Autoencoders](
          https://arxiv.org/abs/2412.06410)
        - [Bussmann et al., 2025. Learning Multi-Level Features with
          Matryoshka Sparse Autoencoders](https://arxiv.org/abs/2503.17547)
        - [Rajamanoharan et al., 2024. Jumping Ahead: Improving
          Reconstruction Fidelity with JumpReLU Sparse Autoencoders](
          https://arxiv.org/abs/2407.14435)
    """

    def __init__(
        self,
        units,
        k=None,
        *,
        activation="topk",
        tied_init=True,
        unit_norm_decoder=True,
        pre_bias="geometric_median",
        dead_after=100_000,
        aux_k=None,
        aux_coefficient=1 / 32,
        matryoshka_groups=None,
        initial_threshold=0.001,
        bandwidth=0.001,
        sparsity_penalty="l0",
        sparsity_coefficient=1e-3,
        sparsity_warmup_steps=0,
        target_l0=None,
        normalize_inputs=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_int("units", units, minimum=1)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.k = _check_k(k, self.units, self.activation)
        self.tied_init = check_bool("tied_init", tied_init)
        self.unit_norm_decoder = check_bool(
            "unit_norm_decoder", unit_norm_decoder
        )
        self.pre_bias = check_choice("pre_bias", pre_bias, PRE_BIASES)
        # At most 2**30, so that the int32 count plus a batch cannot wrap.
        self.dead_after = check_int(
            "dead_after", dead_after, minimum=1, maximum=DEAD_AFTER_MAX
        )
        self.aux_k = check_int("aux_k", aux_k, minimum=0, allow_none=True)
        self.aux_coefficient = check_float(
            "aux_coefficient", aux_coefficient, minimum=0.0
        )
        self.matryoshka_groups = check_matryoshka_groups(
            matryoshka_groups, self.units
        )
        self.initial_threshold = check_float(
            "initial_threshold", initial_threshold, minimum=0.0, exclusive=True
        )
        self.bandwidth = check_float(
            "bandwidth", bandwidth, minimum=0.0, exclusive=True
        )
        self.sparsity_penalty = check_choice(
            "sparsity_penalty", sparsity_penalty, SPARSITY_PENALTIES
        )
        self.sparsity_coefficient = check_float(
            "sparsity_coefficient", sparsity_coefficient, minimum=0.0
        )
        self.sparsity_warmup_steps = check_int(
            "sparsity_warmup_steps", sparsity_warmup_steps, minimum=0
        )
        self.target_l0 = _check_target_l0(target_l0, self.sparsity_penalty)
        if self.activation != "jumprelu":
            _check_jumprelu_defaults(self)
        self.normalize_inputs = check_bool("normalize_inputs", normalize_inputs)
        if self.activation == "topk":
            self.selection = KSparse(
                self.k, name="top_k", dtype=self.dtype_policy
            )
        elif self.activation == "batch_topk":
            self.selection = BatchTopK(
                self.k, name="batch_top_k", dtype=self.dtype_policy
            )
        else:
            self.selection = JumpReLU(
                initial_threshold=self.initial_threshold,
                bandwidth=self.bandwidth,
                name="jump_relu",
                dtype=self.dtype_policy,
            )
        self.fvu_tracker = FVU(name="fvu")
        # Fed each row's nonzero count by `call`, as `L0` would count.
        self.l0_tracker = keras.metrics.Mean(name="l0")
        self.dead_tracker = _Latest(name="dead_fraction")

    @classmethod
    def from_batch_topk(cls, model, **kwargs):
        """A `"jumprelu"` model that encodes as a trained BatchTopK one.

        Every latent's θ is the BatchTopK model's inference threshold
        (`model.selection.threshold`), the other weights and the
        dead-latent counts are copied, so that the codes (`encode`,
        `predict`) are those of `model` at inference, up to the float32
        rounding of `θ = exp(log θ)`. SAELens saves its BatchTopK SAEs as
        JumpReLU ones in the same way. The new model is not compiled;
        trained, it learns a θ per latent.

        Args:
            model: a built `SparseAutoencoder` with
                `activation="batch_topk"` (Matryoshka or not) and a
                threshold θ > 0 (it is 0 before training).
            **kwargs: JumpReLU arguments of the new model
                (`bandwidth`, `sparsity_penalty`, `sparsity_coefficient`,
                `sparsity_warmup_steps`, `target_l0`) and `name`; the
                others are `model`'s.

        Returns:
            a new, built `SparseAutoencoder` with `activation="jumprelu"`.
        """
        if not isinstance(model, SparseAutoencoder):
            raise TypeError(
                "Invalid type for `model`, expected a `SparseAutoencoder`. "
                f"Received: model of type {type(model).__name__}"
            )
        if model.activation != "batch_topk" or not model.built:
            raise ValueError(
                "Invalid value for `model`, expected a built "
                "`SparseAutoencoder` with activation='batch_topk'. "
                f"Received: activation={model.activation!r}, "
                f"built={model.built}"
            )
        theta = float(ops.convert_to_numpy(model.selection.threshold))
        if not (math.isfinite(theta) and theta > 0):
            raise ValueError(
                "Invalid value for `model`, expected a BatchTopK threshold "
                "θ > 0, the JumpReLU threshold of every latent (θ is 0 "
                f"until the model is trained). Received: threshold={theta!r}"
            )
        allowed = {*JUMPRELU_DEFAULTS, "name"} - {"initial_threshold"}
        if not set(kwargs) <= allowed:
            raise TypeError(
                "Invalid keyword arguments for `from_batch_topk`, expected "
                f"some of {sorted(allowed)}. "
                f"Received: {sorted(set(kwargs) - allowed)}"
            )
        config = model.get_config()
        config.update(
            k=None, activation="jumprelu", initial_threshold=theta, **kwargs
        )
        converted = cls.from_config(config)
        converted.build((None, model._input_dim()))
        for name in _SHARED_WEIGHTS:
            source = getattr(model, name)
            if source is not None:
                getattr(converted, name).assign(ops.convert_to_numpy(source))
        log_theta = np.full((model.units,), math.log(theta), "float32")
        converted.selection.log_threshold.assign(log_theta)
        return converted

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if len(input_shape) != 2 or input_dim is None:
            raise ValueError(
                "Invalid input shape for `SparseAutoencoder`, expected "
                "`(batch_size, input_dim)` with `input_dim` defined. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self._aux_k = min(
            self.units,
            max(1, input_dim // 2) if self.aux_k is None else self.aux_k,
        )
        directions = _UnitRows(seed=random.randint(1, 10**9))
        self.decoder_kernel = self.add_weight(
            name="decoder_kernel",
            shape=(self.units, input_dim),
            initializer=directions,
            constraint=_UnitRowsConstraint()
            if self.unit_norm_decoder
            else None,
        )
        encoder_init = (
            _Transposed(directions) if self.tied_init else "glorot_uniform"
        )
        self.encoder_kernel = self.add_weight(
            name="encoder_kernel",
            shape=(input_dim, self.units),
            initializer=encoder_init,
        )
        self.encoder_bias = self.add_weight(
            name="encoder_bias", shape=(self.units,), initializer="zeros"
        )
        self.pre_encoder_bias = None
        if self.pre_bias is not None:
            self.pre_encoder_bias = self.add_weight(
                name="pre_encoder_bias", shape=(input_dim,), initializer="zeros"
            )
        self.input_scale = None
        if self.normalize_inputs:
            self.input_scale = _input_scale.add_input_scale(self)
        self.samples_since_fired = add_step_counter(
            self, "samples_since_fired", (self.units,), "int32"
        )
        self.samples_seen = add_step_counter(self, "samples_seen", (), "int32")
        # The last step's global batch: under tf.distribute each replica
        # assigns its rows and the "sum" aggregation adds them up.
        self.batch_samples = add_step_counter(
            self, "batch_samples", (), "float32", aggregation="sum"
        )
        if self.activation == "jumprelu":
            # t of the warm-up, saturating at W.
            self.warmup_step = add_step_counter(self, "warmup_step")
        self.selection.build((None, self.units))
        self.fvu_tracker.build(input_dim)
        self.input_spec = keras.InputSpec(ndim=2, axes={-1: input_dim})
        self.built = True

    @property
    def dictionary(self):
        """The `(input_dim, units)` decoder, one atom per column."""
        return ops.transpose(self.decoder_kernel)

    def adapt(self, x):
        """Sets the pre-encoder bias to the geometric median (or mean) of x.

        With `normalize_inputs=True`, first measures the input scale `s`
        (mean `||s x|| = sqrt(input_dim)`); the bias is then that of `s x`.

        The geometric median is found by Weiszfeld's iterations (at most
        100, until it moves by less than 1e-6 of the data's scale). `x`
        holds real, finite numbers, at least one row of the model's
        `input_dim` (its last axis; the others are rows): anything else is
        a `TypeError` or `ValueError`.
        """
        if self.pre_bias is None and not self.normalize_inputs:
            raise ValueError(
                "`adapt` sets the pre-encoder bias, which this model does "
                "not have (`pre_bias=None`)."
            )
        x = _rows_to_adapt(x, self._input_dim() if self.built else None)
        if not self.built:
            self.build((None, x.shape[-1]))
        if self.normalize_inputs:
            scale = _input_scale.measure_input_scale(x)
            self.input_scale.assign(np.float32(scale))
            x = x * scale
            if self.pre_bias is None:
                return
        center = x.mean(axis=0)
        if self.pre_bias == "geometric_median":
            center = _geometric_median(x, center)
        self.pre_encoder_bias.assign(center.astype("float32"))

    def encode(self, x, training=False):
        """The sparse codes of `x`, shape `(batch_size, units)`."""
        x = self._as_float(x)
        _check_width("x", x, self._input_dim())
        codes, _ = self._encode(self._scaled(x), training)
        return codes

    def decode(self, codes):
        """The reconstruction `W_dec z + b_pre` of codes `z`."""
        codes = ops.cast(codes, self.compute_dtype)
        _check_width("codes", codes, self.units)
        return self._unscaled(self._decode(codes, self._decoder(False)))

    def call(self, inputs, training=None):
        """The reconstruction `x_hat`, in training and out of it.

        Adds the loss (in training the FVU, summed over Matryoshka's
        prefixes, + AuxK + JumpReLU's warmed-up penalty, which also
        update the dead-latent count and the warm-up step; otherwise the
        whole dictionary's FVU) with `add_loss`, so that a model that
        nests this one trains on it as well.
        """
        x = self._as_float(inputs)
        # Also in `fit` on JAX, whose stateless call skips `input_spec`.
        _check_width("inputs", x, self._input_dim())
        # From here on in the scaled space (FVU and AuxK are invariant).
        x = self._scaled(x)
        codes, pre = self._encode(x, training)
        decoder = self._decoder(training)
        reconstruction = self._decode(codes, decoder)
        nonzero = ops.cast(ops.not_equal(codes, 0), "float32")
        if not training:
            self.add_loss(fvu(x, reconstruction))
            self._keep_nonzeros(nonzero)
            return self._unscaled(reconstruction)
        auxk = self.aux_coefficient > 0 and self._aux_k > 0
        residual = ops.stop_gradient(x - reconstruction) if auxk else None
        # Whether each latent fired on this replica's rows.
        fired = ops.max(nonzero, axis=0)
        variances, fired = global_statistics(
            [x, residual] if auxk else [x], fired
        )
        dead = self._track_dead_latents(fired, ops.shape(x)[0])
        error = squared_error(x, reconstruction)
        if self.matryoshka_groups is not None:
            error = error + prefix_squared_errors(
                x, codes, decoder, self._pre_bias(), self.matryoshka_groups
            )
        # Undefined (inf or NaN) for a batch without variance, never 0.
        loss = ops.divide(error, variances[0])
        if self.activation == "jumprelu":
            loss = loss + self._sparsity_loss(pre, decoder)
        if auxk:
            aux_error = self._aux_error(x, residual, pre, dead, decoder)
            # A residual without variance leaves dead latents nothing to
            # explain: no AuxK term.
            aux = ops.divide_no_nan(aux_error, variances[1])
            loss = loss + self.aux_coefficient * aux
        self.add_loss(loss)
        self._keep_nonzeros(nonzero)
        return self._unscaled(reconstruction)

    def _keep_nonzeros(self, nonzero):
        """Keeps each row's nonzero count for `compute_loss`'s `l0`.

        Kept after the call's last cross-replica synchronisation, and read
        before `compute_loss`'s first: `tf.distribute`'s replica threads
        take turns only at those, so each reads its own.
        """
        self._nonzeros_per_row = ops.sum(nonzero, axis=-1)

    def compile(self, optimizer="rmsprop", loss=None, *args, **kwargs):
        """Configures training; see `keras.Model.compile`.

        The model trains on its own loss (added in `call`), so `loss` must
        be `None`: a `ValueError` otherwise. To add a loss of your own,
        nest the model in another (`keras.Sequential([sae])`), whose loss
        sees the reconstruction.
        """
        if loss is not None:
            raise ValueError(
                "Invalid value for `loss`, expected `None`: "
                "`SparseAutoencoder` trains on its own loss (FVU + "
                "aux_coefficient * AuxK). To add another, nest the model "
                f"in another model and compile that. Received: loss={loss!r}"
            )
        super().compile(optimizer, loss, *args, **kwargs)

    def compile_from_config(self, config):
        # Keras's, which skips a model whose `compile` is overridden.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """Trains on `x` alone; see `keras.Model.fit`.

        The target is `x` itself: a `y` (or a dataset that yields targets)
        is refused with a `ValueError`, rather than ignored.

        Each batch's loss is divided by the batch's variance, which one
        row, or identical rows, do not have. So array data that would
        leave a batch of one row (`batch_size=1`, or a last batch of one,
        in training or in `validation_split`'s rows), or whose rows are all
        equal, is refused with a `ValueError`; a batch without variance
        from a dataset gives an inf or NaN loss, never 0.
        """
        _check_no_targets(y, "fit")
        self._check_array_width(x)
        self._check_scale_measured()
        if _is_array(x):
            _check_batches(
                x, batch_size, kwargs.get("validation_split", 0.0), "fit"
            )
            _check_variance(x)
        return super().fit(x, y, batch_size, *args, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """Evaluates on `x` alone; see `keras.Model.evaluate`.

        Array data that would leave a batch of one row, whose loss (an
        FVU) is undefined, is refused with a `ValueError`.
        """
        _check_no_targets(y, "evaluate")
        self._check_array_width(x)
        if _is_array(x):
            _check_batches(x, batch_size, 0.0, "evaluate")
        return super().evaluate(x, y, batch_size, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """The reconstructions of `x`; see `keras.Model.predict`."""
        self._check_array_width(x)
        return super().predict(x, *args, **kwargs)

    def _check_array_width(self, x):
        # A compiled step may be traced with no fixed width (TensorFlow
        # relaxes a retraced shape), so arrays are checked before.
        if self.built and _is_array(x):
            _check_width("x", x, self._input_dim())

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        _check_no_targets(y, "fit` or `evaluate")
        nonzeros = self.__dict__.pop("_nonzeros_per_row", None)
        if nonzeros is not None:
            # In training and inference alike (docs/semantics.md). Here
            # rather than in `compute_metrics`: on JAX only this runs in
            # the traced call's scope.
            self.l0_tracker.update_state(nonzeros)
            self.dead_tracker.update_state(
                ops.mean(ops.cast(self._dead(), "float32"))
            )
        return super().compute_loss(
            x, y, y_pred, sample_weight, training=training
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.fvu_tracker.update_state(x, y_pred)
        return self.get_metrics_result()

    def _input_dim(self):
        if not self.built:
            raise ValueError(
                "The model is not built yet: call it, `fit` it or `adapt` "
                "it on data first."
            )
        return self.encoder_kernel.shape[0]

    def _as_float(self, x):
        return ops.cast(x, self.compute_dtype)

    def _encode(self, x, training):
        pre = ops.matmul(self._centered(x), self.encoder_kernel)
        pre = pre + self._encoder_bias()
        if self.activation == "jumprelu":
            # θ > 0, so no ReLU: the estimators see `pre` itself.
            return self.selection(pre), pre
        return self.selection(_relu(pre), training=training), pre

    def _decode(self, codes, decoder):
        outputs = ops.matmul(codes, decoder)
        if self.pre_encoder_bias is not None:
            outputs = outputs + self._pre_bias()
        return outputs

    def _pre_bias(self):
        if self.pre_encoder_bias is None:
            return None
        return self._cast(self.pre_encoder_bias)

    def _sparsity_loss(self, pre, decoder):
        """`λ_t` times the batch mean of JumpReLU's sparsity penalty.

        Advances the warm-up's step `t` (saturating at `W`).
        """
        # A copy: on TensorFlow `convert_to_tensor` gives the variable.
        step = ops.copy(self.warmup_step)
        coefficient = warmup_coefficient(
            self.sparsity_coefficient, step, self.sparsity_warmup_steps
        )
        self.warmup_step.assign(
            ops.minimum(step + 1, max(self.sparsity_warmup_steps, 1))
        )
        if self.sparsity_penalty == "l0":
            penalty = self.selection.l0(pre)
        elif self.sparsity_penalty == "quadratic":
            # On the batch's mean L0, not each row's (SAELens): rows near
            # a threshold are the busy ones, so a per-row penalty settles
            # below L0* (docs/sparse-autoencoders.md).
            gap = ops.mean(self.selection.l0(pre)) - self.target_l0
            penalty = (2.0 / self.target_l0) * ops.square(gap)
        else:
            norms = ops.norm(ops.cast(decoder, "float32"), axis=-1)
            penalty = self.selection.tanh_l0(pre, norms)
        return coefficient * ops.mean(ops.cast(penalty, "float32"))

    def _centered(self, x):
        if self.pre_encoder_bias is None:
            return x
        # b_pre's gradient through the encoder is `_encoder_bias`'s.
        return x - ops.stop_gradient(self._cast(self.pre_encoder_bias))

    def _encoder_bias(self):
        """`b_enc`, plus a zero that carries `b_pre`'s encoder gradient.

        The zero is `s - stop_gradient(s)` for `s = -b_pre W_enc`, whose
        gradient is that of `(x - b_pre) W_enc` summed over the batch:
        one `(1, units)` by `(units, input_dim)` product instead of one
        per row. In float32, where `s` cannot overflow.
        """
        if self.pre_encoder_bias is None:
            return self.encoder_bias
        kernel = ops.stop_gradient(ops.cast(self.encoder_kernel, "float32"))
        pre_bias = ops.cast(self.pre_encoder_bias, "float32")[None]
        shift = -ops.matmul(pre_bias, kernel)[0]
        zero = shift - ops.stop_gradient(shift)
        return self.encoder_bias + ops.cast(zero, self.compute_dtype)

    def _cast(self, variable):
        # A cast, not the variable: on TensorFlow, under a mixed policy,
        # an op given the variable directly may get it in float32.
        return ops.cast(variable, self.compute_dtype)

    def _decoder(self, training):
        kernel = self._cast(self.decoder_kernel)
        if not (training and self.unit_norm_decoder):
            return kernel
        # Same value; its gradient is (I - w w^T) g for each unit row w:
        # the component parallel to the row is removed.
        w = ops.stop_gradient(kernel)
        return kernel - w * ops.sum(w * (kernel - w), axis=-1, keepdims=True)

    def _dead(self):
        return self.samples_since_fired >= self.dead_after

    def _track_dead_latents(self, fired, rows):
        """Updates `samples_since_fired`; returns the dead mask before.

        `fired` is positive for the latents that fired on any replica.
        """
        dead = self._dead()
        self.batch_samples.assign(ops.cast(rows, "float32"))
        # A copy: on TensorFlow `convert_to_tensor` gives the variable.
        batch = ops.cast(ops.copy(self.batch_samples), "int32")
        # Saturates at 2**31 - 1 rather than wrapping negative.
        room = INT32_MAX - ops.convert_to_tensor(self.samples_seen)
        self.samples_seen.assign_add(ops.minimum(batch, room))
        since = ops.minimum(self.samples_since_fired + batch, self.dead_after)
        self.samples_since_fired.assign(
            ops.where(fired > 0, ops.zeros_like(since), since)
        )
        return dead

    def _aux_error(self, x, residual, pre, dead, decoder):
        # The error is computed only when a latent is dead: most steps of
        # a healthy model skip it (a real branch under XLA and
        # tf.function). `dead` is the same on every replica, and no
        # all-reduce is in a branch, as tf.distribute requires.
        return ops.cond(
            ops.any(dead),
            lambda: self._dead_error(x, residual, pre, dead, decoder),
            lambda: ops.zeros((), "float32"),
        )

    def _dead_error(self, x, residual, pre, dead, decoder):
        return ops.cond(
            ops.sum(ops.cast(dead, "int32")) > self._aux_k,
            lambda: self._top_dead_error(residual, pre, dead, decoder),
            lambda: self._all_dead_error(x, residual, dead, decoder),
        )

    def _all_dead_error(self, x, residual, dead, decoder):
        """AuxK's error when at most aux_k latents are dead: all of them.

        Encodes and decodes with the aux_k latents that include the dead
        ones (dead ones first) instead of all `units`: matmuls aux_k wide,
        whose gradients reach the weights through small gathers.
        """
        _, columns = self._latent_top_k(ops.cast(dead, "float32"), self._aux_k)
        chosen = ops.take(dead, columns)
        kernel = ops.take(self._cast(self.encoder_kernel), columns, axis=1)
        bias = ops.take(self._cast(self._encoder_bias()), columns)
        values = ops.matmul(self._centered(x), kernel) + bias
        # ReLU's zeros in the same mask.
        kept = chosen & (ops.stop_gradient(values) > 0)
        aux_codes = ops.where(kept, values, ops.zeros((), values.dtype))
        aux = ops.matmul(aux_codes, ops.take(decoder, columns, axis=0))
        return squared_error(residual, aux)

    def _top_dead_error(self, residual, pre, dead, decoder):
        """AuxK's error from each row's aux_k largest dead latents.

        Those >= the aux_k-th largest dead pre-activation. No
        tie-breaking: the index order among tied values would cost a
        cumulative sum.
        """
        # Only compared: no gradient (nor its saved state) through top_k.
        candidates = ops.where(dead, ops.stop_gradient(pre), float("-inf"))
        largest, _ = self._latent_top_k(candidates, self._aux_k)
        threshold = ops.min(largest, axis=-1, keepdims=True)
        # ReLU's zeros in the same mask.
        kept = dead & (candidates >= threshold) & (candidates > 0)
        aux_codes = ops.where(kept, pre, ops.zeros((), pre.dtype))
        aux = ops.matmul(aux_codes, decoder)
        return squared_error(residual, aux)

    def _latent_top_k(self, x, k):
        # Latents split across devices are ranked shard by shard, as the
        # selection ranks them (`sae_layout_map`).
        return top_k_over(output_shards(self.selection), ops.top_k)(x, k)

    def fold_input_scale(self):
        """Folds the input scale `s` into the weights and sets `s = 1`.

        The model computes `z = TopK(ReLU(W_enc (s x - b_pre) + b_enc))`
        and `x_hat = (W_dec z + b_pre) / s`. With `W_enc <- s W_enc`,
        `b_pre <- b_pre / s` and `W_dec <- W_dec / s` it computes the same
        codes and reconstructions from raw `x` with `s = 1` (`b_enc` and a
        BatchTopK threshold, which see the same pre-activations, stay).
        Decoder columns then have norm `1 / s`: fold a trained model for
        export; training on (with `unit_norm_decoder`) renormalises them.
        A model without `normalize_inputs=True` has nothing to fold.
        """
        if not self.normalize_inputs or not self.built:
            raise ValueError(
                "`fold_input_scale` needs a built model with "
                "`normalize_inputs=True`. Received: normalize_inputs="
                f"{self.normalize_inputs}, built={self.built}"
            )
        if not _input_scale.is_measured(self.input_scale):
            self.input_scale.assign(1.0)
            return
        scale = ops.convert_to_tensor(self.input_scale)
        self.encoder_kernel.assign(self.encoder_kernel * scale)
        self.decoder_kernel.assign(self.decoder_kernel / scale)
        if self.pre_encoder_bias is not None:
            self.pre_encoder_bias.assign(self.pre_encoder_bias / scale)
        self.input_scale.assign(1.0)

    def _scaled(self, x):
        if self.input_scale is None:
            return x
        return _input_scale.scaled(x, self.input_scale)

    def _unscaled(self, x):
        if self.input_scale is None:
            return x
        return _input_scale.scaled(x, self.input_scale, inverse=True)

    def _check_scale_measured(self):
        if self.normalize_inputs and not (
            self.built and _input_scale.is_measured(self.input_scale)
        ):
            raise ValueError(
                "`normalize_inputs=True` trains on inputs scaled by a "
                "factor that `adapt(x)` measures: call `adapt` on "
                "(a sample of) the training data before `fit`."
            )

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "units": self.units,
            "k": self.k,
            "activation": self.activation,
            "tied_init": self.tied_init,
            "unit_norm_decoder": self.unit_norm_decoder,
            "pre_bias": self.pre_bias,
            "dead_after": self.dead_after,
            "aux_k": self.aux_k,
            "aux_coefficient": self.aux_coefficient,
            "matryoshka_groups": self.matryoshka_groups,
            "initial_threshold": self.initial_threshold,
            "bandwidth": self.bandwidth,
            "sparsity_penalty": self.sparsity_penalty,
            "sparsity_coefficient": self.sparsity_coefficient,
            "sparsity_warmup_steps": self.sparsity_warmup_steps,
            "target_l0": self.target_l0,
            "normalize_inputs": self.normalize_inputs,
        }
        return config


# The weights `from_batch_topk` copies (a missing `b_pre` is None).
_SHARED_WEIGHTS = (
    "encoder_kernel",
    "encoder_bias",
    "decoder_kernel",
    "pre_encoder_bias",
    "samples_since_fired",
    "samples_seen",
    "batch_samples",
    "input_scale",
)


def _check_k(k, units, activation):
    """`k`, an integer in `[1, units]`, or None for `"jumprelu"` only."""
    if activation == "jumprelu":
        if k is not None:
            raise ValueError(
                "Invalid value for `k`, expected `None` with "
                "activation='jumprelu', whose L0 is set by "
                "`sparsity_coefficient` (its thresholds are learned), or "
                "pulled to `target_l0` with sparsity_penalty='quadratic'. "
                f"Received: k={k!r}"
            )
        return None
    if k is None:
        raise ValueError(
            f"Invalid value for `k`, expected a positive integer with "
            f"activation={activation!r} (`None` is for 'jumprelu' only). "
            "Received: k=None"
        )
    k = check_int("k", k, minimum=1)
    if k > units:
        raise ValueError(
            "Invalid value for `k`, expected an integer <= `units` "
            f"({units}). Received: k={k!r}"
        )
    return k


def _check_target_l0(target_l0, sparsity_penalty):
    """A positive number with `"quadratic"`, `None` with the others."""
    if sparsity_penalty != "quadratic":
        if target_l0 is not None:
            raise ValueError(
                "Invalid value for `target_l0`, expected `None` with "
                f"sparsity_penalty={sparsity_penalty!r} (it is the target of "
                f"'quadratic' only). Received: target_l0={target_l0!r}"
            )
        return None
    if target_l0 is None:
        raise ValueError(
            "Invalid value for `target_l0`, expected a positive number with "
            "sparsity_penalty='quadratic' (the L0 it pulls toward). "
            "Received: target_l0=None"
        )
    return check_float("target_l0", target_l0, minimum=0.0, exclusive=True)


def _check_jumprelu_defaults(model):
    """Refuses a JumpReLU argument changed for another activation."""
    for name, default in JUMPRELU_DEFAULTS.items():
        value = getattr(model, name)
        if value != default:
            raise ValueError(
                f"Invalid value for `{name}`, expected its default "
                f"({default!r}): it applies to activation='jumprelu' only. "
                f"Received: {name}={value!r} with "
                f"activation={model.activation!r}"
            )


def _relu(x):
    """`max(x, 0)` that keeps NaN, as `ops.relu` does not everywhere.

    TensorFlow's graph optimiser fuses a matmul, an add and a ReLU into one
    oneDNN kernel, whose ReLU turns NaN into 0; a `where` is not fused.
    """
    return ops.where(x < 0, ops.zeros((), x.dtype), x)


def _check_no_targets(y, method):
    if y is not None:
        raise ValueError(
            f"Invalid value for `y` in `{method}`, expected `None`: "
            "`SparseAutoencoder` reconstructs its inputs and trains on them "
            f"alone. Received: y of type {type(y).__name__}"
        )


def _check_width(name, x, width):
    """Refuses a tensor that is not rows of `width` entries."""
    if len(x.shape) != 2 or x.shape[-1] not in (None, width):
        raise ValueError(
            f"Invalid shape for `{name}`, expected `(batch_size, {width})`: "
            "the width is fixed when the model is built. "
            f"Received: {name}.shape={tuple(x.shape)}"
        )


def _rows_to_adapt(x, width):
    """`x` as float64 rows, or a clear error; `width` is checked if given."""
    rows = ops.convert_to_numpy(x) if ops.is_tensor(x) else np.asarray(x)
    real = np.issubdtype(rows.dtype, np.number) or rows.dtype == bool
    if np.iscomplexobj(rows) or not real:
        raise TypeError(
            "Invalid dtype for `x`, expected real numbers. "
            f"Received: x.dtype={rows.dtype}"
        )
    if rows.ndim < 2:
        raise ValueError(
            "Invalid shape for `x`, expected rows `(samples, input_dim)`. "
            f"Received: x.shape={rows.shape}"
        )
    rows = rows.reshape(-1, rows.shape[-1])
    if rows.shape[0] == 0:
        raise ValueError(
            "Invalid shape for `x`, expected at least one sample. "
            f"Received: x.shape={np.shape(x)}"
        )
    if width is not None and rows.shape[1] != width:
        raise ValueError(
            f"Invalid shape for `x`, expected samples of the model's "
            f"input_dim ({width}). Received: x.shape={np.shape(x)}"
        )
    rows = rows.astype("float64")
    if not np.all(np.isfinite(rows)):
        raise ValueError(
            "Invalid value for `x`, expected finite numbers. Received: "
            "x with NaN or infinite entries"
        )
    return rows


def _is_array(x):
    return isinstance(x, np.ndarray) or ops.is_tensor(x)


def _check_batches(x, batch_size, validation_split, method):
    """Refuses array data that `method` would cut into a batch of one row.

    As Keras does: batches of `batch_size` (32 when not given) rows, the
    last `validation_split` of the rows apart.
    """
    rows = int(x.shape[0])
    batch = 32 if batch_size is None else batch_size
    held_out = rows - int(np.floor(rows * (1.0 - validation_split)))
    for part in (rows - held_out, held_out):
        if part > 0 and (batch == 1 or part % batch == 1):
            raise ValueError(
                f"Invalid value for `batch_size` in `{method}`, expected a "
                "size that leaves no batch of one row: the loss divides "
                "by each batch's variance, which one row does not have. "
                "Choose another `batch_size` or drop a row. Received: "
                f"batch_size={batch_size!r} for {part} rows"
            )


def _check_variance(x):
    """Refuses array data whose rows are all equal (no variance)."""
    x = np.asarray(x)
    if x.shape[0] > 0 and np.array_equal(x.max(axis=0), x.min(axis=0)):
        raise ValueError(
            "Invalid value for `x`, expected rows that are not all equal: "
            "the loss divides by the batch's variance, which is 0. "
            f"Received: x of shape {x.shape} with every row equal"
        )


def _geometric_median(x, start, iterations=100):
    center = start
    scale = max(float(np.abs(x - start).max()), 1e-12)
    for _ in range(iterations):
        distances = np.maximum(np.linalg.norm(x - center, axis=1), 1e-12)
        weights = 1.0 / distances
        moved = weights @ x / weights.sum()
        done = np.abs(moved - center).max() < 1e-6 * scale
        center = moved
        if done:
            break
    return center


class _UnitRows(keras.initializers.Initializer):
    """Random directions: rows of Gaussian noise scaled to unit norm."""

    def __init__(self, seed):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        rows = keras.random.normal(shape, seed=self.seed, dtype="float32")
        rows = rows / ops.norm(rows, axis=-1, keepdims=True)
        return ops.cast(rows, dtype or "float32")

    def get_config(self):
        return {"seed": self.seed}


class _Transposed(keras.initializers.Initializer):
    """The transpose of what `initializer` makes for the transposed shape."""

    def __init__(self, initializer):
        self.initializer = initializer

    def __call__(self, shape, dtype=None):
        return ops.transpose(self.initializer(shape[::-1], dtype=dtype))


class _UnitRowsConstraint(keras.constraints.Constraint):
    """Scales each row of a kernel to unit L2 norm (zero rows stay zero)."""

    def __call__(self, w):
        norm = ops.sqrt(ops.sum(ops.square(w), axis=-1, keepdims=True))
        return ops.divide_no_nan(w, norm)


class _Latest(keras.metrics.Metric):
    """The value last given to `update_state` (0 after a reset).

    One variable, averaged over replicas, as a `Mean` reset before each
    update would give, for half the assignments.
    """

    def __init__(self, name):
        super().__init__(name=name)
        self.value = self.add_variable(
            (), initializer="zeros", aggregation="mean", name="value"
        )

    def update_state(self, value):
        self.value.assign(ops.cast(value, self.dtype))

    def result(self):
        return ops.cast(self.value, self.dtype)
