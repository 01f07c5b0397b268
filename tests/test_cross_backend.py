"""A `.keras` file saved on one backend loads on every other one.

Keras reads `KERAS_BACKEND` once, at import, so each backend runs this file
as a script in its own subprocess: `save` trains a model that holds every
component and saves it, then records what the model does next; `load`
loads each saved file in safe mode and records the same. Every pair of
installed backends must agree on the outputs, the regularization losses,
the KSparse step and the dictionary, and on one more training step, which
also needs the optimizer's state. Backends that are not installed are
skipped, as under `.[test]` alone.

The pairs do not depend on the backend pytest itself runs on, so they run
once: under PyTorch, where CI has all three backends installed (its JAX
stage has only TensorFlow and JAX, whose two pairs PyTorch's stage runs
again). `SPARSEKERAS_CROSS_BACKEND=1` runs them under any backend.
"""

import importlib.util
import itertools
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

HERE = pathlib.Path(__file__).resolve().parent
BACKENDS = [
    backend
    for backend, module in (
        ("tensorflow", "tensorflow"),
        ("jax", "jax"),
        ("torch", "torch"),
    )
    if importlib.util.find_spec(module) is not None
]
PAIRS = list(itertools.permutations(BACKENDS, 2))
RUNS_HERE = (
    os.environ.get("SPARSEKERAS_CROSS_BACKEND") == "1"
    or os.environ.get("KERAS_BACKEND") == "torch"
)


def run_worker(backend, *args):
    done = subprocess.run(
        [sys.executable, str(pathlib.Path(__file__).resolve()), *args],
        env=dict(os.environ, KERAS_BACKEND=backend),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        pytest.fail(f"{args[0]} on {backend} failed:\n{done.stderr[-3000:]}")


class Runs:
    """Each backend saves once and loads once, however many pairs use it."""

    def __init__(self, folder):
        self.folder = folder
        self.loaded = set()

    def saved(self, backend):
        folder = self.folder / backend
        if not folder.exists():
            folder.mkdir()
            run_worker(backend, "save", str(folder))
        return np.load(folder / "record.npz")

    def loaded_on(self, target, source):
        if target not in self.loaded:
            sources = [b for b in BACKENDS if b != target]
            for backend in sources:
                self.saved(backend)
            folders = [str(self.folder / backend) for backend in sources]
            run_worker(target, "load", *folders)
            self.loaded.add(target)
        return np.load(self.folder / source / f"loaded_on_{target}.npz")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return Runs(tmp_path_factory.mktemp("cross_backend"))


@pytest.mark.slow
@pytest.mark.skipif(
    not RUNS_HERE,
    reason="runs once, under PyTorch (CI's stage with every backend), "
    "or with SPARSEKERAS_CROSS_BACKEND=1",
)
@pytest.mark.parametrize("source, target", PAIRS)
def test_model_saved_on_one_backend_behaves_the_same_on_another(
    runs, source, target
):
    expected = runs.saved(source)
    actual = runs.loaded_on(target, source)

    assert sorted(actual.files) == sorted(expected.files)
    for name in expected.files:
        np.testing.assert_allclose(
            actual[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name
        )
    assert int(expected["step"]) == 4
    assert int(expected["step_after_a_step"]) == 5


# The worker, run as a script with KERAS_BACKEND set. ----------------------


def _record(model, x):
    """What `model` holds and does next, as arrays named for the test."""
    import keras

    from sparsekeras.layers import KSparse, NeuralSparseCoding

    from components import layer_of

    def state(suffix=""):
        return {
            f"step{suffix}": keras.ops.convert_to_numpy(
                layer_of(model, KSparse).step
            ),
            f"dictionary{suffix}": keras.ops.convert_to_numpy(
                layer_of(model, NeuralSparseCoding).dictionary
            ),
        }

    record = state()
    record["outputs"] = keras.ops.convert_to_numpy(model(x))
    record["regularization_losses"] = np.array(
        [keras.ops.convert_to_numpy(loss) for loss in model.losses]
    )
    record["training_loss"] = np.array(model.train_on_batch(x, x))
    record.update(state("_after_a_step"))
    for index, weight in enumerate(model.weights):
        record[f"weight_{index}"] = keras.ops.convert_to_numpy(weight)
    return record


def _save(folder):
    import keras

    from components import INPUT_DIM, every_component_model

    x = np.random.default_rng(0).normal(size=(16, INPUT_DIM))
    x = x.astype("float32")
    model = every_component_model()
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse"
    )
    model.fit(x, x, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model.save(folder / "model.keras")
    np.save(folder / "x.npy", x)
    np.savez(folder / "record.npz", **_record(model, x))


def _load(folders, backend):
    import keras

    # Registers the sparsekeras classes, as a user's import would.
    import sparsekeras  # noqa: F401

    for folder in folders:
        # Keras on PyTorch saves a built-in optimizer under the class of its
        # PyTorch backend, which other backends cannot run; naming the
        # public class loads it there, state and all.
        model = keras.models.load_model(
            folder / "model.keras",
            safe_mode=True,
            custom_objects={"SGD": keras.optimizers.SGD},
        )
        if backend == "torch":
            # JAX's default jit is saved as `jit_compile=True`, which
            # PyTorch takes for `torch.compile`: many seconds to start, and
            # beside the point here.
            model.jit_compile = False
        record = _record(model, np.load(folder / "x.npy"))
        np.savez(folder / f"loaded_on_{backend}.npz", **record)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    command, *paths = sys.argv[1:]
    if command == "save":
        _save(pathlib.Path(paths[0]))
    else:
        _load(
            [pathlib.Path(path) for path in paths], os.environ["KERAS_BACKEND"]
        )
