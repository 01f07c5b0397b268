"""Compiled training: XLA on TensorFlow, the default `jit` on JAX.

Each component, the KSparse schedule and the NeuralSparseCoding dictionary
update included, trains the same compiled as it does step by step without
compilation. PyTorch's `jit_compile=True` means `torch.compile`, which is
out of scope here.
"""

import keras
import numpy as np
import pytest
from keras import ops

from sparsekeras.layers import KSparse, NeuralSparseCoding

from components import SCHEDULE, every_component_model, layer_of

BACKEND = keras.backend.backend()
# What `jit_compile` compiles the train step with on each backend: "auto"
# is JAX's default (jit); on a CPU-only TensorFlow "auto" would not compile.
JIT_COMPILE = {"tensorflow": True, "jax": "auto"}

pytestmark = pytest.mark.skipif(
    BACKEND not in JIT_COMPILE,
    reason=f"no XLA or default jit on the {BACKEND} backend",
)


def nonzeros_per_row(y_true, y_pred):
    return ops.mean(ops.sum(ops.cast(y_pred != 0, "float32"), axis=-1))


def trained(jit_compile, x, epochs):
    model = every_component_model()
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss="mse",
        jit_compile=jit_compile,
    )
    dictionary = ops.convert_to_numpy(
        layer_of(model, NeuralSparseCoding).dictionary
    )
    history = model.fit(
        x, x, batch_size=8, epochs=epochs, shuffle=False, verbose=0
    )
    return model, dictionary, history.history["loss"]


@pytest.mark.slow
def test_compiled_fit_matches_uncompiled_fit_for_every_component():
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    compiled, start, losses = trained(JIT_COMPILE[BACKEND], x, epochs=3)
    eager, _, eager_losses = trained(False, x, epochs=3)

    step = layer_of(compiled, KSparse).step
    assert int(ops.convert_to_numpy(step)) == 6
    dictionary = layer_of(compiled, NeuralSparseCoding).dictionary
    dictionary = ops.convert_to_numpy(dictionary)
    assert not np.allclose(dictionary, start)
    assert np.all(np.isfinite(losses))
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5)
    for weight, eager_weight in zip(
        compiled.weights, eager.weights, strict=True
    ):
        np.testing.assert_allclose(
            ops.convert_to_numpy(weight),
            ops.convert_to_numpy(eager_weight),
            rtol=1e-5,
            atol=1e-6,
            err_msg=weight.path,
        )
    np.testing.assert_allclose(
        compiled.predict(x, verbose=0),
        eager.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_compiled_fit_follows_the_ksparse_schedule():
    x = np.random.default_rng(1).uniform(1, 2, size=(4, 8)).astype("float32")
    inputs = keras.Input((8,))
    features = keras.layers.Dense(8, kernel_initializer="identity")(inputs)
    layer = KSparse(**SCHEDULE)
    model = keras.Model(inputs, layer(features))
    model.compile(
        optimizer="sgd",
        loss="mse",
        metrics=[nonzeros_per_row],
        jit_compile=JIT_COMPILE[BACKEND],
    )

    history = model.fit(x, np.zeros_like(x), batch_size=4, epochs=6, verbose=0)

    assert history.history["nonzeros_per_row"] == [8, 6, 5, 4, 2, 2]
    assert int(ops.convert_to_numpy(layer.step)) == 6


@pytest.mark.filterwarnings("ignore:The model does not have any trainable")
def test_compiled_fit_moves_the_dictionary_as_the_uncompiled_one():
    x = np.random.default_rng(2).normal(size=(32, 6)).astype("float32")
    dictionaries = []
    for jit_compile in (JIT_COMPILE[BACKEND], False):
        inputs = keras.Input((6,))
        layer = NeuralSparseCoding(
            12,
            threshold=0.3,
            output_mode="reconstruction",
            dictionary_initializer=keras.initializers.RandomNormal(seed=4),
        )
        model = keras.Model(inputs, layer(inputs))
        model.compile(loss="mse", jit_compile=jit_compile)
        start = ops.convert_to_numpy(layer.dictionary)
        model.fit(x, x, batch_size=8, epochs=2, shuffle=False, verbose=0)
        dictionaries.append(ops.convert_to_numpy(layer.dictionary))

    assert not np.allclose(dictionaries[0], start)
    np.testing.assert_allclose(
        np.linalg.norm(dictionaries[0], axis=0), 1.0, rtol=1e-6
    )
    np.testing.assert_allclose(
        dictionaries[0], dictionaries[1], rtol=1e-5, atol=1e-6
    )
