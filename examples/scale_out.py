"""
Title: Scaling out a k-sparse autoencoder
Author: The sparsekeras authors
Date created: 2026/11/24
Last modified: 2026/12/07
Description: Train on every device of a machine, and survive interruptions.
"""

"""
## Introduction

Data parallelism copies the model onto every device (each copy is a
*replica*), splits each batch among them, and combines their updates into
one. sparsekeras's components are written so that this gives the training
of one device on the same batches: `KSparse`'s schedule counts training
steps, not replicas; `KLSparsityRegularizer` penalises the mean activation
of the whole batch, not each replica's share; and `NeuralSparseCoding`
moves its dictionary once per step, by the step of the whole batch.

This script uses the tool of its backend:
`tf.distribute.MirroredStrategy` on TensorFlow (the default) and
`keras.distribution.DataParallel` on JAX (`KERAS_BACKEND=jax`). Keras has
no data-parallel `fit` for PyTorch, which trains on one device here. On a
machine with no GPU the script splits the CPU into two devices, so that
there are two replicas to see on a laptop too.

Training is backed up at the end of every epoch with
`keras.callbacks.BackupAndRestore`: stop the script during training, run it
again, and it carries on from the last finished epoch, with the model's
weights, the optimizer's state, and `KSparse`'s schedule step all restored.
`--epochs` and `--out` change the length of the run and the folder of the
backup and the saved model. `docs/scaling.md` says more, including how to
run on several machines.
"""

"""
## Setup

The command line is read first, so that `--help` answers at once. The
devices must be set up before the backend starts: JAX reads `XLA_FLAGS`
when it is imported, and TensorFlow fixes its logical devices when it
first uses one.
"""

import argparse

parser = argparse.ArgumentParser(
    description="Train on every device of a machine, and survive interruptions."
)
parser.add_argument(
    "--epochs", type=int, default=5, help="training epochs (default: 5)"
)
parser.add_argument(
    "--out",
    default="scale_out",
    help="folder for the backup and the saved model (default: scale_out)",
)
args = parser.parse_args()

import contextlib
import os

BACKEND = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if BACKEND == "jax":
    # Two devices on the CPU; GPUs and TPUs, if any, are used as they are.
    os.environ.setdefault(
        "XLA_FLAGS", "--xla_force_host_platform_device_count=2"
    )

import keras
import numpy as np

import sparsekeras as sk

if BACKEND == "tensorflow":
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        tf.config.set_logical_device_configuration(
            tf.config.list_physical_devices("CPU")[0],
            [tf.config.LogicalDeviceConfiguration()] * 2,
        )

EPOCHS = args.epochs
BATCH_SIZE_PER_REPLICA = 128
UNITS = 512
K, K_START = 25, 100
OUT = args.out
keras.utils.set_random_seed(0)


def data_parallel():
    """Returns the backend's data parallelism and its number of replicas."""
    if BACKEND == "tensorflow":
        devices = tf.config.list_logical_devices("GPU")
        devices = devices or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
        return strategy, strategy.num_replicas_in_sync
    if BACKEND == "jax":
        distribution = keras.distribution.DataParallel()
        return distribution, len(keras.distribution.list_devices())
    return None, 1


parallelism, replicas = data_parallel()


def scope():
    """A scope to build and train in, over every replica."""
    return parallelism.scope() if parallelism else contextlib.nullcontext()


global_batch_size = BATCH_SIZE_PER_REPLICA * replicas
print(f"{replicas} replica(s), global batch size {global_batch_size}")

"""
## Prepare the data

`fit` takes the *global* batch size, which the replicas share. Keeping
every batch full (a number of images that is a multiple of the global
batch size) gives every replica the same number of rows at every step:
Keras's own losses then average over the global batch, and JAX's
`DataParallel` requires it.
"""

(x_train, _), (x_test, _) = sk.datasets.load_mnist()
x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
x_test = x_test.reshape(-1, 784).astype("float32") / 255.0
x_train = x_train[: len(x_train) // global_batch_size * global_batch_size]
steps_per_epoch = len(x_train) // global_batch_size

"""
## Build the model

The model, its optimizer and its variables are created inside the scope,
so that they are placed on (or mirrored across) the devices.
"""

with scope():
    inputs = keras.Input(shape=(784,))
    hidden = keras.layers.Dense(UNITS, name="encoder")(inputs)
    codes = sk.layers.KSparse(
        K, k_start=K_START, anneal_steps=EPOCHS * steps_per_epoch // 2
    )(hidden)
    outputs = keras.layers.Dense(784, activation="sigmoid")(codes)
    autoencoder = keras.Model(inputs, outputs)
    autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")

"""
## Train

`save_freq="epoch"` makes the backup at the end of each epoch, and a
resumed run starts the next epoch from it, as if nothing had happened
(`shuffle=False` keeps the order of the batches the same, too; with
shuffling on, a resumed run sees a different order, which is just as good
a run but not the same one). Keras (up to 3.15 at least) resumes a
mid-epoch backup (`save_freq=<number of batches>`) at the start of its
epoch, so the batches before the backup are trained twice.
"""

with scope():
    autoencoder.fit(
        x_train,
        x_train,
        epochs=EPOCHS,
        batch_size=global_batch_size,
        shuffle=False,
        callbacks=[keras.callbacks.BackupAndRestore(f"{OUT}/backup")],
    )

"""
## Evaluate and save

The saved model holds everything, `KSparse`'s schedule step included, and
loads on any number of devices.
"""

reconstructions = autoencoder.predict(x_test, batch_size=1000, verbose=0)
print(f"test MSE: {np.mean((reconstructions - x_test) ** 2):.4f}")
step = int(keras.ops.convert_to_numpy(autoencoder.layers[2].step))
print(f"KSparse schedule step: {step} ({EPOCHS} x {steps_per_epoch} steps)")
autoencoder.save(f"{OUT}/autoencoder.keras")
print(f"model saved to {OUT}/autoencoder.keras")

"""
## Several machines

The same model scales to several machines with the multi-worker form of
each tool; one copy of the program runs on every machine. Feed it a
batched `tf.data.Dataset` of global batches rather than arrays: both tools
then give each worker its own share of every batch.

On TensorFlow, use `tf.distribute.MultiWorkerMirroredStrategy()` in place
of `MirroredStrategy`, and describe the cluster to each worker in the
`TF_CONFIG` environment variable, the same everywhere but for the
worker's own index:

```bash
export TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                   "task": {"type": "worker", "index": 0}}'
```

On JAX, call `keras.distribution.initialize()` before anything else uses
JAX, with the coordinator's address, the number of processes and this
process's index (or with no arguments where JAX finds them itself, as on
Cloud TPU pods), then make `DataParallel()` as above: it spans the
devices of every process.

```python
keras.distribution.initialize(
    job_addresses="host1:1234", num_processes=2, process_id=0
)
```

Keras's `BackupAndRestore` saves from every process with no coordination
between them, so give each worker a backup directory of its own.
"""
