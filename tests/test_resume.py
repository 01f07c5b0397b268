"""Saving and resuming keep every piece of sparsekeras state.

`KSparse`'s schedule step and `NeuralSparseCoding`'s dictionary are
non-trainable weights, so Keras saves them with the model: in `.keras`
files, in `.weights.h5` files, and in `BackupAndRestore`'s backups. Every
run here uses `shuffle=False`, so that an interrupted run and an
uninterrupted one see the same batches in the same order and "the same
training" is well defined.
"""

import os

import keras
import numpy as np
import pytest

import sparsekeras as sk

pytestmark = pytest.mark.slow

ROWS, BATCH_SIZE, EPOCHS = 32, 8, 2
# Saving does not depend on how the step runs. XLA would compile each new
# model for seconds on TensorFlow, and PyTorch's `True` means
# `torch.compile`; JAX's eager steps dispatch op by op and are far slower
# than its default `jit`, which compiles this model in about a second.
JIT = "auto" if keras.backend.backend() == "jax" else False
STEPS_PER_EPOCH = ROWS // BATCH_SIZE


class Interrupt(keras.callbacks.Callback):
    """Raises `InterruptedError` after the `after`-th batch of the run."""

    def __init__(self, after):
        super().__init__()
        self.after = after
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches == self.after:
            raise InterruptedError(f"interrupted after batch {self.after}")


class RecordState(keras.callbacks.Callback):
    """Records the model's state at the start of training and after batches."""

    def __init__(self):
        super().__init__()
        self.at_start = None
        self.after_batch = []

    def on_train_begin(self, logs=None):
        self.at_start = state(self.model)

    def on_train_batch_end(self, batch, logs=None):
        self.after_batch.append(state(self.model))


def data():
    return np.random.default_rng(0).random((ROWS, 8)).astype("float32")


def sparse_model():
    """Every sparsekeras component, and Adam, whose moments are state too."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(
        6,
        activation="sigmoid",
        kernel_regularizer=sk.regularizers.WeightDecay(1e-3),
        activity_regularizer=sk.regularizers.KLSparsityRegularizer(0.1, 3.0),
    )(inputs)
    codes = sk.layers.KSparse(2, k_start=5, anneal_steps=6)(hidden)
    features = keras.layers.Dense(8)(codes)
    outputs = sk.layers.NeuralSparseCoding(
        6, k=2, learning_rate=0.5, output_mode="reconstruction"
    )(features)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss="mse", jit_compile=JIT
    )
    return model


def state(model):
    """Every variable of the model and its optimizer, in order."""
    return variables(model.weights + model.optimizer.variables)


def variables(variable_list):
    # By position: the paths hold layer names, which differ between models.
    return [(v.name, keras.ops.convert_to_numpy(v)) for v in variable_list]


def assert_same_state(actual, expected):
    assert len(actual) == len(expected)
    for (name, a), (_, e) in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(a, e, err_msg=name)


def schedule_step(model):
    layer = next(x for x in model.layers if isinstance(x, sk.layers.KSparse))
    return int(keras.ops.convert_to_numpy(layer.step))


def fit(model, x, callbacks=(), epochs=EPOCHS, initial_epoch=0):
    return model.fit(
        x,
        x,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        initial_epoch=initial_epoch,
        shuffle=False,
        verbose=0,
        callbacks=list(callbacks),
    )


@pytest.fixture(scope="module")
def uninterrupted():
    model = sparse_model()
    fit(model, data())
    return state(model)


def interrupt(backup, after, x, *callbacks):
    with pytest.raises(InterruptedError):
        fit(sparse_model(), x, [backup, *callbacks, Interrupt(after)])


def test_epoch_backups_resume_to_the_uninterrupted_state(
    tmp_path, uninterrupted
):
    x = data()
    backup_dir = str(tmp_path / "backup")
    # Mid-epoch: after batch 2 of the second epoch, one backup made.
    interrupt(keras.callbacks.BackupAndRestore(backup_dir), 6, x)

    resumed = sparse_model()
    fit(resumed, x, [keras.callbacks.BackupAndRestore(backup_dir)])

    assert_same_state(state(resumed), uninterrupted)
    assert schedule_step(resumed) == EPOCHS * STEPS_PER_EPOCH


def test_batch_backups_restore_the_state_they_saved(tmp_path):
    x = data()
    backup_dir = str(tmp_path / "backup")
    record = RecordState()
    # Backups after batches 3 and 6; interrupted after batch 7.
    interrupt(
        keras.callbacks.BackupAndRestore(backup_dir, save_freq=3),
        7,
        x,
        record,
    )
    restore = RecordState()

    fit(
        sparse_model(),
        x,
        [keras.callbacks.BackupAndRestore(backup_dir, save_freq=3), restore],
    )

    assert_same_state(restore.at_start, record.after_batch[5])


def test_batch_backups_restart_the_interrupted_epoch_at_its_first_batch(
    tmp_path,
):
    # Keras (through 3.15) records the batch of a mid-epoch backup but
    # resumes at the start of its epoch, so the batches of that epoch that
    # came before the backup are trained twice. sparsekeras's state follows
    # suit: it is that of a run that trained those batches twice.
    x = data()
    backup_dir = str(tmp_path / "backup")
    interrupt(
        keras.callbacks.BackupAndRestore(backup_dir, save_freq=3),
        7,
        x,
    )
    resumed = sparse_model()
    fit(
        resumed,
        x,
        [keras.callbacks.BackupAndRestore(backup_dir, save_freq=3)],
    )

    replayed = sparse_model()
    fit(replayed, x, epochs=1)
    fit(replayed, x[: 2 * BATCH_SIZE], epochs=1)
    fit(replayed, x, initial_epoch=1)

    assert_same_state(state(resumed), state(replayed))
    assert schedule_step(resumed) == EPOCHS * STEPS_PER_EPOCH + 2


@pytest.mark.parametrize("filename", ["model.keras", "model.weights.h5"])
def test_model_checkpoints_restore_every_piece_of_state(
    tmp_path, filename, uninterrupted
):
    x = data()
    path = str(tmp_path / filename)
    model = sparse_model()
    checkpoint = keras.callbacks.ModelCheckpoint(
        path, save_weights_only=filename.endswith(".weights.h5")
    )
    fit(model, x, [checkpoint], epochs=1)

    if filename.endswith(".keras"):
        restored = keras.models.load_model(path)
        restored.jit_compile = JIT
    else:
        restored = sparse_model()
        # Without this, load_weights skips the optimizer's state.
        restored.optimizer.build(restored.trainable_variables)
        restored.load_weights(path)
    assert_same_state(state(restored), state(model))

    fit(model, x, initial_epoch=1)
    fit(restored, x, initial_epoch=1)
    assert_same_state(state(restored), state(model))
    assert_same_state(state(restored), uninterrupted)


def test_weights_file_skips_optimizer_state_of_an_unbuilt_optimizer(
    tmp_path,
):
    x = data()
    path = os.path.join(tmp_path, "model.weights.h5")
    model = sparse_model()
    fit(model, x, epochs=1)
    model.save_weights(path)

    restored = sparse_model()
    with pytest.warns(UserWarning, match="Skipping variable loading"):
        restored.load_weights(path)

    assert not restored.optimizer.built
    assert_same_state(variables(restored.weights), variables(model.weights))
