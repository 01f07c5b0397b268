"""Builds each case of the comparison from its `CaseSettings`.

- (a) `plain`: sigmoid hidden layer, sigmoid output, untied weights.
- (b) `weight_decay`: (a) with `WeightDecay(λ)` on both kernels.
- (c) `kl_sparse`: (b) with `KLSparsityRegularizer(rho, beta)` on the hidden
  activations: Ng's sparse autoencoder.
- (d) `neural_sparse_coding`: a `NeuralSparseCoding` dictionary (tied by
  construction: codes `A^T y`, reconstruction `A x`), started from
  normalised training images with `adapt` and learned by the neural update
  alone: nothing is trained by gradients, the cost is only measured.
- (e) `k_sparse`: a linear hidden layer, `KSparse(k)`, and a `TiedDense`
  decoder that reconstructs with the transpose of the encoder's kernel.

Every model names its code layer `"codes"`, so `codes_of` reads the codes of
a built model and of one loaded from its `.keras` file alike.
"""

import dataclasses
import functools
import math
import warnings

import keras

from sparsekeras.layers import KSparse, NeuralSparseCoding, TiedDense
from sparsekeras.losses import SquaredErrorCost
from sparsekeras.regularizers import KLSparsityRegularizer, WeightDecay
from sparsekeras.studies.five_cases.presets import NORMAL
from sparsekeras.studies.five_cases.registry import lookup

INPUT_DIM = 784
SIGMOID_ACTIVE = 0.5
CODES = "codes"
ENCODER = "encoder"


@dataclasses.dataclass
class BuiltCase:
    """One case, built and compiled.

    Attributes:
        key: the case's key in `registry.CASES`.
        model: the compiled model, trained with `model.fit(x, x)`.
        active_threshold: `|code|` above which a unit is active: 0.5 for
            sigmoid units, 0 for exactly sparse codes.
        prepare: called with the training images before `fit` (the start
            from data of (d)); does nothing for the others.
    """

    key: str
    model: keras.Model
    active_threshold: float
    prepare: object = None


def build_case(key, settings, *, training_steps, seed=0):
    """Builds and compiles one case.

    Args:
        key: a key of `registry.CASES`.
        settings: its `presets.CaseSettings`.
        training_steps: steps of the whole training, for (e)'s schedule.
        seed: which training images start (d)'s dictionary.

    Returns:
        A `BuiltCase`.
    """
    key = lookup(key).key
    if key == "neural_sparse_coding":
        return _neural_sparse_coding(settings, seed)
    if key == "k_sparse":
        return _k_sparse(settings, training_steps)
    return _sigmoid_autoencoder(key, settings)


def codes_of(model, images):
    """The hidden codes of `images`, from a built or a loaded model."""
    layer = model.get_layer(CODES)
    if isinstance(layer, NeuralSparseCoding):
        return keras.ops.convert_to_numpy(layer.encode(images))
    encoder = keras.Model(model.inputs, layer.output)
    return encoder.predict(images, batch_size=1000, verbose=0)


def filters_of(model):
    """The `(784, units)` filters: encoder kernel or dictionary."""
    layer = model.get_layer(CODES)
    if isinstance(layer, NeuralSparseCoding):
        return keras.ops.convert_to_numpy(layer.dictionary)
    # (a)-(c) code with their encoder; (e) codes with KSparse after it.
    names = [layer.name for layer in model.layers]
    encoder = model.get_layer(ENCODER) if ENCODER in names else layer
    return keras.ops.convert_to_numpy(encoder.kernel)


def cost_label(settings):
    """The unit of a case's training cost, for the cost axis of a picture.

    Keras's training cost is the loss, `cost_scale·‖x − x̂‖²` per image
    averaged over the batch (pixels in [0, 1]), plus the penalties that the
    case adds to it.
    """
    scale = {0.5: "½", 1.0: ""}.get(
        settings.cost_scale, f"{settings.cost_scale:g}·"
    )
    penalties = [
        name
        for name, used in (
            ("weight decay", settings.weight_decay),
            ("KL", settings.rho is not None),
        )
        if used
    ]
    error = f"{scale}‖x − x̂‖² per image"
    # The penalties go on a line of their own, to fit beside a panel.
    return "\n+ ".join([error, " + ".join(penalties)]) if penalties else error


def settings_used(key, settings):
    """The settings that `build_case` reads for case `key`, in plain words.

    A setting the case ignores (β without a KL term, an optimizer's rate
    for (d), whose dictionary has its own rule) is left out.

    Args:
        key: a key of `registry.CASES`.
        settings: its `presets.CaseSettings`.

    Returns:
        A list of short phrases, such as `"Adam, learning rate 0.001"`.
    """
    key = lookup(key).key
    cost = "cost " + cost_label(settings).split("\n")[0]
    if key == "neural_sparse_coding":
        decoding = (
            "one-step decoding"
            if settings.refine_steps == 0
            else f"{settings.refine_steps} refinement steps"
        )
        return [
            f"{settings.units} atoms started from normalised training images",
            f"k = {settings.k} atoms per image, {decoding}",
            "no optimizer: the neural update at rate "
            f"η = {settings.learning_rate:g}",
            f"{cost} (measured, not minimised)",
        ]
    kind = "linear" if key == "k_sparse" else "sigmoid"
    if settings.initializer == NORMAL:
        start = "N(0, 0.01²)"
    else:
        start = f"uniform ±√(6/{INPUT_DIM + settings.units + 1})"
    if settings.optimizer == "sgd":
        optimizer = (
            f"SGD, learning rate {settings.learning_rate:g}, momentum "
            f"{settings.momentum:g}"
        )
    else:
        optimizer = f"Adam, learning rate {settings.learning_rate:g}"
    used = [
        f"{settings.units} {kind} units, "
        + ("with biases" if settings.use_bias else "no biases"),
        f"initial weights {start}",
        optimizer,
        cost,
    ]
    if settings.weight_decay:
        used.append(f"weight decay λ = {settings.weight_decay:g}")
    if settings.rho is not None:
        used.append(f"KL sparsity ρ = {settings.rho:g}, β = {settings.beta:g}")
    if key == "k_sparse":
        kept = f"k = {settings.k} units per image"
        if settings.k_start is not None and settings.k_start > settings.k:
            kept += (
                f", lowered from {settings.k_start} over the first half of "
                "training"
            )
        if settings.alpha != 1.0:
            kept += f", αk = {round(settings.alpha * settings.k)} at test time"
        used.append(kept)
    return used


def _initializer(settings, fan_out):
    if settings.initializer == NORMAL:
        return keras.initializers.RandomNormal(stddev=0.01)
    limit = math.sqrt(6.0 / (INPUT_DIM + fan_out + 1))
    return keras.initializers.RandomUniform(-limit, limit)


def _decay(settings):
    return WeightDecay(settings.weight_decay) if settings.weight_decay else None


def _compile(model, settings):
    if settings.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            settings.learning_rate, momentum=settings.momentum
        )
    elif settings.optimizer == "adam":
        optimizer = keras.optimizers.Adam(settings.learning_rate)
    else:
        optimizer = keras.optimizers.Adam()
    model.compile(
        optimizer=optimizer, loss=SquaredErrorCost(settings.cost_scale)
    )
    return model


def _sigmoid_autoencoder(key, settings):
    inputs = keras.Input(shape=(INPUT_DIM,), name="image")
    codes = keras.layers.Dense(
        settings.units,
        activation="sigmoid",
        use_bias=settings.use_bias,
        kernel_initializer=_initializer(settings, settings.units),
        kernel_regularizer=_decay(settings),
        activity_regularizer=(
            None
            if settings.rho is None
            else KLSparsityRegularizer(rho=settings.rho, beta=settings.beta)
        ),
        name=CODES,
    )
    hidden = codes(inputs)
    outputs = keras.layers.Dense(
        INPUT_DIM,
        activation="sigmoid",
        use_bias=settings.use_bias,
        kernel_initializer=_initializer(settings, settings.units),
        kernel_regularizer=_decay(settings),
        name="decoder",
    )(hidden)
    model = keras.Model(inputs, outputs, name=key)
    return BuiltCase(key, _compile(model, settings), SIGMOID_ACTIVE)


def _neural_sparse_coding(settings, seed):
    inputs = keras.Input(shape=(INPUT_DIM,), name="image")
    coding = NeuralSparseCoding(
        settings.units,
        k=settings.k,
        learning_rate=settings.learning_rate,
        refine_steps=settings.refine_steps,
        output_mode="reconstruction",
        name=CODES,
    )
    model = keras.Model(inputs, coding(inputs), name="neural_sparse_coding")
    return BuiltCase(
        "neural_sparse_coding",
        _compile(model, settings),
        0.0,
        prepare=functools.partial(coding.adapt, seed=seed),
    )


def _k_sparse(settings, training_steps):
    inputs = keras.Input(shape=(INPUT_DIM,), name="image")
    encoder = keras.layers.Dense(
        settings.units,
        use_bias=settings.use_bias,
        kernel_initializer=_initializer(settings, settings.units),
        kernel_regularizer=_decay(settings),
        name=ENCODER,
    )
    anneals = settings.k_start is not None and settings.k_start > settings.k
    codes = KSparse(
        settings.k,
        alpha=settings.alpha,
        k_start=settings.k_start if anneals else None,
        anneal_steps=training_steps // 2 if anneals else 0,
        name=CODES,
    )(encoder(inputs))
    outputs = TiedDense(encoder, use_bias=settings.use_bias, name="decoder")(
        codes
    )
    model = keras.Model(inputs, outputs, name="k_sparse")
    return BuiltCase("k_sparse", _compile(model, settings), 0.0)


def fit_quietly(model, *args, **kwargs):
    """`model.fit`, without (d)'s harmless no-trainable-weights warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The model does not have any trainable weights"
        )
        return model.fit(*args, **kwargs)
