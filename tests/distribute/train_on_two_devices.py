"""Trains each case on one device and on two, and saves both results.

Usage: `python train_on_two_devices.py {tensorflow,jax} OUT_DIR`.

Two host devices must be configured before TensorFlow or JAX starts, so the
tests beside this script run it in a fresh process: TensorFlow splits the CPU
into two logical devices for `tf.distribute.MirroredStrategy`, JAX gets two
host devices from `XLA_FLAGS` for `keras.distribution.DataParallel`. Each
case is trained twice from the same seed, on the same global batches
(`shuffle=False`) with plain SGD, once with no distribution and once over
both devices; `OUT_DIR/<case>_<one|two>.npz` holds its weights, optimizer
variables and reported losses, and `OUT_DIR/devices.json` how many devices
the distributed runs used.
"""

import contextlib
import json
import os
import pathlib
import sys
import warnings

BACKEND, OUT = sys.argv[1], pathlib.Path(sys.argv[2])
os.environ["KERAS_BACKEND"] = BACKEND
if BACKEND == "jax":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
else:
    import tensorflow as tf

    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration()] * 2,
    )

import keras  # noqa: E402
import numpy as np  # noqa: E402

import sparsekeras as sk  # noqa: E402

INPUT_DIM, UNITS, GLOBAL_BATCH = 8, 6, 8
# A model with no trainable weight still needs a compiled loss on TF.
warnings.filterwarnings("ignore", "The model does not have any trainable")


def k_sparse_autoencoder():
    inputs = keras.Input((INPUT_DIM,))
    hidden = keras.layers.Dense(UNITS)(inputs)
    codes = sk.layers.KSparse(2, k_start=5, anneal_steps=6)(hidden)
    return keras.Model(inputs, keras.layers.Dense(INPUT_DIM)(codes))


def kl_sparse_autoencoder():
    decay = sk.regularizers.WeightDecay(0.01)
    inputs = keras.Input((INPUT_DIM,))
    hidden = keras.layers.Dense(
        UNITS,
        activation="sigmoid",
        kernel_regularizer=decay,
        activity_regularizer=sk.regularizers.KLSparsityRegularizer(0.1, 3.0),
    )(inputs)
    outputs = keras.layers.Dense(INPUT_DIM, kernel_regularizer=decay)(hidden)
    return keras.Model(inputs, outputs)


def neural_sparse_coding_autoencoder():
    inputs = keras.Input((INPUT_DIM,))
    features = keras.layers.Dense(INPUT_DIM)(inputs)
    outputs = sk.layers.NeuralSparseCoding(
        UNITS, k=2, learning_rate=0.5, output_mode="reconstruction"
    )(features)
    return keras.Model(inputs, outputs)


def scheduled_neural_sparse_coding_layer():
    # The rate of step t is 0.5 / (1 + t / 4): a step counted per replica
    # call would lower it twice as fast.
    schedule = keras.optimizers.schedules.InverseTimeDecay(
        0.5, decay_steps=4, decay_rate=1.0
    )
    inputs = keras.Input((INPUT_DIM,))
    outputs = sk.layers.NeuralSparseCoding(
        UNITS, k=2, learning_rate=schedule, refine_steps=2
    )(inputs)
    return keras.Model(inputs, outputs)


def kl_sparse_layer():
    inputs = keras.Input((INPUT_DIM,))
    outputs = keras.layers.Dense(
        UNITS,
        activation="sigmoid",
        activity_regularizer=sk.regularizers.KLSparsityRegularizer(0.1, 3.0),
    )(inputs)
    return keras.Model(inputs, outputs)


def neural_sparse_coding_layer():
    inputs = keras.Input((INPUT_DIM,))
    outputs = sk.layers.NeuralSparseCoding(UNITS, k=2, learning_rate=0.5)(
        inputs
    )
    return keras.Model(inputs, outputs)


def sparse_autoencoder(activation="topk"):
    # dead_after of 12 samples: latents die and revive within 8 steps, so
    # the dead-latent counts and AuxK take part.
    return sk.models.SparseAutoencoder(
        UNITS, 2, activation=activation, dead_after=12, aux_k=2
    )


def batch_top_k_sparse_autoencoder():
    return sparse_autoencoder("batch_topk")


# name: (model, rows, target, loss). 32 rows split into equal halves on
# every batch. 35 rows end with a batch of 3 (2 + 1 rows per replica) and
# 33 with a batch of 1 (1 + 0); on such a batch Keras's compiled loss is
# not the global batch's, so the uneven cases learn from sparsekeras alone
# (the NeuralSparseCoding model has no trainable weight for the loss).
CASES = {
    "k_sparse": (k_sparse_autoencoder, 32, "inputs", "mse"),
    "kl_sparse": (kl_sparse_autoencoder, 32, "inputs", "mse"),
    "neural_sparse_coding": (
        neural_sparse_coding_autoencoder,
        32,
        "inputs",
        "mse",
    ),
    "neural_sparse_coding_scheduled": (
        scheduled_neural_sparse_coding_layer,
        32,
        "zeros",
        "mse",
    ),
    # Trained by `fit(x)` alone, on its own loss.
    "sparse_autoencoder": (sparse_autoencoder, 32, None, None),
}
if BACKEND == "jax":
    # BatchTopK selects over the global batch under DataParallel only: on
    # tf.distribute each replica selects among its own rows.
    CASES["sparse_autoencoder_batch_topk"] = (
        batch_top_k_sparse_autoencoder,
        32,
        None,
        None,
    )
if BACKEND == "tensorflow":
    CASES["kl_sparse_uneven"] = (kl_sparse_layer, 35, None, None)
    CASES["neural_sparse_coding_uneven"] = (
        neural_sparse_coding_layer,
        33,
        "zeros",
        "mse",
    )


if BACKEND == "jax":
    TWO_DEVICES = keras.distribution.DataParallel()
else:
    # One strategy for every case: strategies made one after another in a
    # process reuse the keys of their collective all-reduces.
    TWO_DEVICES = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def train(build, rows, target, loss, scope):
    x = np.random.default_rng(0).random((rows, INPUT_DIM)).astype("float32")
    y = {"inputs": x, "zeros": np.zeros((rows, UNITS), "float32")}.get(target)
    keras.utils.set_random_seed(1)
    with scope:
        model = build()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        history = model.fit(
            x, y, batch_size=GLOBAL_BATCH, epochs=2, shuffle=False, verbose=0
        )
    return model, history.history


def as_arrays(model, logs):
    # Keyed by position: layer names differ between the two runs.
    variables = model.weights + model.optimizer.variables
    arrays = {
        f"{i:02d}_{v.name}": np.asarray(v) for i, v in enumerate(variables)
    }
    for name, values in logs.items():
        arrays[f"reported_{name}"] = np.asarray(values)
    return arrays


def devices_holding(model):
    if BACKEND == "jax":
        return len(model.weights[0].value.sharding.device_set)
    return len(model.distribute_strategy.extended.worker_devices)


OUT.mkdir(parents=True, exist_ok=True)
devices = {}
for name, (build, rows, target, loss) in CASES.items():
    one, logs = train(build, rows, target, loss, contextlib.nullcontext())
    np.savez(OUT / f"{name}_one.npz", **as_arrays(one, logs))
    two, logs = train(build, rows, target, loss, TWO_DEVICES.scope())
    np.savez(OUT / f"{name}_two.npz", **as_arrays(two, logs))
    devices[name] = devices_holding(two)
(OUT / "devices.json").write_text(json.dumps(devices))


def batch_top_k_per_replica():
    """What each replica keeps of a batch whose large rows are all on one.

    Rows 0-3 (replica 0) are 10x rows 4-7 (replica 1): over the global
    batch all 2 * 8 kept entries would be on replica 0.
    """
    layer = sk.layers.BatchTopK(2)
    rng = np.random.default_rng(0)
    x = rng.random((8, UNITS)).astype("float32")
    x[:4] *= 10
    dataset = TWO_DEVICES.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(x).batch(GLOBAL_BATCH)
    )
    with TWO_DEVICES.scope():
        layer.build((None, UNITS))
    kept = TWO_DEVICES.run(
        lambda rows: tf.math.count_nonzero(layer(rows, training=True)),
        args=(next(iter(dataset)),),
    )
    return [int(v) for v in TWO_DEVICES.experimental_local_results(kept)]


if BACKEND == "tensorflow":
    (OUT / "batch_top_k_kept.json").write_text(
        json.dumps(batch_top_k_per_replica())
    )
