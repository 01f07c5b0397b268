"""The five ways of getting sparse codes of the MNIST comparison.

Every case is a 784-`units`-784 autoencoder (or, for neural sparse coding, a
784-`units` dictionary), trained with Adam on UFLDL's squared-error cost
`(1/2)·‖x − x̂‖²` per image, so that the regularizers keep the strengths of
Ng's notes (λ = 3e-3, β = 3):

- (a) `plain`: sigmoid hidden layer, sigmoid output.
- (b) `weight_decay`: (a) with `WeightDecay(3e-3)` on both kernels.
- (c) `kl_sparse`: (b) with `KLSparsityRegularizer(rho=0.1, beta=3)` on the
  hidden activations: Ng's sparse autoencoder, with the target sparsity of
  the UFLDL MNIST exercise (0.1, where the layer's default is 0.05).
- (d) `neural_sparse_coding`: a `NeuralSparseCoding` dictionary with the
  same top-k decoder size `k` as (e), learned by the neural update rule
  alone. It differs from the others by design: nothing is trained by
  gradients, and the cost is only measured, as the reconstruction `A·x` of
  the codes. Its learning rate is 0.1, not the layer's default 1.0: raw,
  uncentred pixels make the atoms alike, and faster rates diverge.
- (e) `k_sparse`: a linear hidden layer followed by `KSparse(k)`, with the
  paper's schedule from `k_start=100` down to `k` over the first half of
  training; sigmoid output as in (a).
"""

import dataclasses

import keras

from sparsekeras.layers import KSparse, NeuralSparseCoding
from sparsekeras.regularizers import KLSparsityRegularizer, WeightDecay

INPUT_DIM = 784
WEIGHT_DECAY = 3e-3
RHO = 0.1
BETA = 3.0
K_START = 100
NSC_LEARNING_RATE = 0.1
SIGMOID_ACTIVE = 0.5


@dataclasses.dataclass
class Case:
    """One case of the comparison, built and compiled.

    Attributes:
        key: the case's name on the command line, e.g. `"k_sparse"`.
        letter: its letter in the original comparison, `"a"` to `"e"`.
        title: a human-readable title.
        model: the compiled model, trained with `model.fit(x, x)`.
        encode: a function from images to their hidden codes (numpy).
        filters: a function returning the `(784, units)` filters to draw.
        active_threshold: `|code|` above which a hidden unit counts as
            active (0.5 for sigmoid units, 0 for exactly sparse codes).
    """

    key: str
    letter: str
    title: str
    model: keras.Model
    encode: object
    filters: object
    active_threshold: float


def squared_error_cost(y_true, y_pred):
    """UFLDL's reconstruction cost of one image: (1/2)·Σ (x − x̂)²."""
    return 0.5 * keras.ops.sum(keras.ops.square(y_true - y_pred), axis=-1)


def build_case(key, *, units=1000, k=25, steps_per_epoch=1, epochs=1):
    """Builds and compiles one case.

    Args:
        key: one of `CASES`.
        units: hidden units (atoms, for neural sparse coding).
        k: active units per code for the k-sparse and neural sparse coding
            cases.
        steps_per_epoch: training steps per epoch, for the k-sparse schedule.
        epochs: training epochs, for the k-sparse schedule.

    Returns:
        A `Case`.
    """
    return _BUILDERS[key](
        units=units, k=k, anneal_steps=(steps_per_epoch * epochs) // 2
    )


def _autoencoder(key, hidden, *, decoder_regularizer=None):
    inputs = keras.Input(shape=(INPUT_DIM,), name="image")
    encoder_layers = hidden if isinstance(hidden, list) else [hidden]
    codes = inputs
    for layer in encoder_layers:
        codes = layer(codes)
    reconstruction = keras.layers.Dense(
        INPUT_DIM,
        activation="sigmoid",
        kernel_regularizer=decoder_regularizer,
        name="decoder",
    )(codes)
    model = keras.Model(inputs, reconstruction, name=key)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=squared_error_cost
    )
    encoder = keras.Model(inputs, codes, name=f"{key}_encoder")
    first = encoder_layers[0]
    return (
        model,
        lambda x: encoder.predict(x, batch_size=1024, verbose=0),
        lambda: keras.ops.convert_to_numpy(first.kernel),
    )


def _sigmoid_autoencoder(key, letter, title, *, units, decay=False, kl=False):
    """(a) to (c): sigmoid units; (b) adds decay, (c) also the KL penalty."""
    model, encoder, filters = _autoencoder(
        key,
        keras.layers.Dense(
            units,
            activation="sigmoid",
            kernel_regularizer=WeightDecay(WEIGHT_DECAY) if decay else None,
            activity_regularizer=(
                KLSparsityRegularizer(rho=RHO, beta=BETA) if kl else None
            ),
            name="encoder",
        ),
        decoder_regularizer=WeightDecay(WEIGHT_DECAY) if decay else None,
    )
    return Case(key, letter, title, model, encoder, filters, SIGMOID_ACTIVE)


def _plain(*, units, k, anneal_steps):
    return _sigmoid_autoencoder("plain", "a", "Plain autoencoder", units=units)


def _weight_decay(*, units, k, anneal_steps):
    return _sigmoid_autoencoder(
        "weight_decay",
        "b",
        "Autoencoder with weight decay",
        units=units,
        decay=True,
    )


def _kl_sparse(*, units, k, anneal_steps):
    return _sigmoid_autoencoder(
        "kl_sparse",
        "c",
        "KL sparse autoencoder (Ng)",
        units=units,
        decay=True,
        kl=True,
    )


def _neural_sparse_coding(*, units, k, anneal_steps):
    inputs = keras.Input(shape=(INPUT_DIM,), name="image")
    coding = NeuralSparseCoding(
        units,
        k=k,
        learning_rate=NSC_LEARNING_RATE,
        output_mode="reconstruction",
        name="neural_sparse_coding",
    )
    model = keras.Model(inputs, coding(inputs), name="neural_sparse_coding")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=squared_error_cost
    )
    return Case(
        "neural_sparse_coding",
        "d",
        "Neural sparse coding",
        model,
        lambda x: keras.ops.convert_to_numpy(coding.encode(x)),
        lambda: keras.ops.convert_to_numpy(coding.dictionary),
        0.0,
    )


def _k_sparse(*, units, k, anneal_steps):
    model, encoder, filters = _autoencoder(
        "k_sparse",
        [
            keras.layers.Dense(units, name="encoder"),
            KSparse(
                k,
                k_start=max(k, min(K_START, units)),
                anneal_steps=anneal_steps,
                name="k_sparse",
            ),
        ],
    )
    return Case(
        "k_sparse",
        "e",
        "k-sparse autoencoder",
        model,
        encoder,
        filters,
        0.0,
    )


_BUILDERS = {
    "plain": _plain,
    "weight_decay": _weight_decay,
    "kl_sparse": _kl_sparse,
    "neural_sparse_coding": _neural_sparse_coding,
    "k_sparse": _k_sparse,
}
CASES = tuple(_BUILDERS)
