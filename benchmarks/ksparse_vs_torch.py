"""The k-sparse autoencoder in Keras against the same model in PyTorch.

Both sides train `Dense(units) -> top k -> Dense(input_dim)` (sigmoid
output for MNIST pixels, linear for the wide synthetic setting) with Adam
(learning rate 1e-3, epsilon 1e-7, Keras's default) on UFLDL's cost
`(1/2) |x - x_hat|^2`, averaged over the batch, on the same batch. The
PyTorch model keeps the top k with `torch.topk` and `scatter`, the usual
way. Keras runs on whatever backend `KERAS_BACKEND` names, as
`KSparse(k)` and as case (e)'s annealed `KSparse(k, k_start=4k, ...)`;
PyTorch runs eagerly and, optionally, under `torch.compile`. On a CPU,
whatever runs on PyTorch is also timed with one intra-op thread. Every step
ends by reading the loss as a Python float, which waits for the device.

`python -m benchmarks.ksparse_vs_torch --out FILE.json` runs it in a
process of its own: `benchmarks.run` does so with `KERAS_BACKEND=torch`,
as a process's Keras backend is fixed when Keras is imported.
"""

import argparse
import dataclasses
import json
import os

import keras
import numpy as np
import torch

from benchmarks import timing
from sparsekeras.comparison.cases import squared_error_cost
from sparsekeras.datasets import load_mnist
from sparsekeras.layers import KSparse

BASELINE = "torch_eager"
ONE_THREAD = "torch_eager_1_thread"
# Case (e) anneals from k_start = 100 = 4 * 25 over its first 1,175 steps.
ANNEAL_FACTOR = 4
ANNEAL_STEPS = 1175


@dataclasses.dataclass(frozen=True)
class Shape:
    """The sizes of one comparison.

    Attributes:
        name: key of the shape in the results.
        input_dim: size of the input and of the reconstruction.
        units: hidden units.
        k: units kept per row.
        batch_size: rows per step.
        data: `"mnist"` (MNIST images, sigmoid output) or `"normal"`
            (standard normal rows, linear output).
    """

    name: str
    input_dim: int
    units: int
    k: int
    batch_size: int
    data: str


MNIST = Shape("mnist_784x1000_k25_b256", 784, 1000, 25, 256, "mnist")
WIDE = Shape("wide_768x24576_k32_b4096", 768, 24576, 32, 4096, "normal")
"""A sparse autoencoder of a language model's activations, as on a GPU."""
QUICK_MNIST = Shape("mnist_784x64_k8_b32_quick", 784, 64, 8, 32, "mnist")
QUICK_WIDE = Shape("wide_96x512_k8_b64_quick", 96, 512, 8, 64, "normal")


def compare(shapes, *, repeats, calls, warmup, compile_torch):
    """Times Keras and PyTorch on each shape, interleaved.

    Returns:
        A dict from shape name to `{"shape": ..., "device": ...,
        "summary": ...}`, the summary `timing.summarize`'s with ratios to
        eager PyTorch; on a CPU, also `"summary_vs_one_thread"`, with
        ratios to eager PyTorch on one thread (contenders that run on
        PyTorch have a `_1_thread` twin there).
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = {}
    for shape in shapes:
        batch = _batch(shape)
        contenders = _keras_contenders(shape, batch)
        contenders[BASELINE] = _torch_step(shape, batch, device, False)
        if compile_torch:
            contenders["torch_compile"] = _torch_step(
                shape, batch, device, True
            )
        if device == "cpu" and torch.get_num_threads() > 1:
            for name in [name for name in contenders if _on_torch(name)]:
                contenders[f"{name}_1_thread"] = _one_thread(contenders[name])
        seconds = timing.interleaved(
            contenders, repeats=repeats, calls=calls, warmup=warmup
        )
        results[shape.name] = {
            "shape": dataclasses.asdict(shape),
            "device": device,
            "summary": timing.summarize(seconds, BASELINE),
        }
        if ONE_THREAD in seconds:
            results[shape.name]["summary_vs_one_thread"] = timing.summarize(
                seconds, ONE_THREAD
            )
    return results


def _batch(shape):
    if shape.data == "mnist":
        (images, _), _ = load_mnist(source="embedded")
        flat = images[: shape.batch_size].reshape(shape.batch_size, -1)
        return flat.astype("float32") / 255.0
    rng = np.random.default_rng(0)
    return rng.standard_normal((shape.batch_size, shape.input_dim)).astype(
        "float32"
    )


def _output_activation(shape):
    return "sigmoid" if shape.data == "mnist" else None


def keras_model(shape, *, annealed):
    """The Keras k-sparse autoencoder of `shape`, compiled."""
    keras.utils.set_random_seed(0)
    if annealed:
        ksparse = KSparse(
            shape.k,
            k_start=min(ANNEAL_FACTOR * shape.k, shape.units),
            anneal_steps=ANNEAL_STEPS,
        )
    else:
        ksparse = KSparse(shape.k)
    model = keras.Sequential(
        [
            keras.Input((shape.input_dim,)),
            keras.layers.Dense(shape.units),
            ksparse,
            keras.layers.Dense(
                shape.input_dim, activation=_output_activation(shape)
            ),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=squared_error_cost
    )
    return model


def _keras_contenders(shape, batch):
    tensor = keras.ops.convert_to_tensor(batch)
    backend = keras.backend.backend()
    contenders = {}
    for annealed in (False, True):
        model = keras_model(shape, annealed=annealed)
        name = f"keras_{backend}" + ("_annealed" if annealed else "")
        contenders[name] = _train_on_batch(model, tensor)
    return contenders


def _train_on_batch(model, batch):
    return lambda: model.train_on_batch(batch, batch)


class TorchKSparseAutoencoder(torch.nn.Module):
    """`Linear -> keep the top k (topk, scatter) -> Linear (-> sigmoid)`."""

    def __init__(self, shape):
        super().__init__()
        self.k = shape.k
        self.sigmoid = shape.data == "mnist"
        self.encoder = torch.nn.Linear(shape.input_dim, shape.units)
        self.decoder = torch.nn.Linear(shape.units, shape.input_dim)

    def forward(self, inputs):
        hidden = self.encoder(inputs)
        values, indices = torch.topk(hidden, self.k, dim=-1)
        sparse = torch.zeros_like(hidden).scatter(-1, indices, values)
        outputs = self.decoder(sparse)
        return torch.sigmoid(outputs) if self.sigmoid else outputs


def _torch_step(shape, batch, device, compiled):
    torch.manual_seed(0)
    model = TorchKSparseAutoencoder(shape).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    forward = torch.compile(model) if compiled else model
    inputs = torch.from_numpy(batch).to(device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        reconstruction = forward(inputs)
        loss = 0.5 * torch.sum(torch.square(inputs - reconstruction), dim=-1)
        loss = loss.mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def _on_torch(name):
    return name.startswith("torch") or keras.backend.backend() == "torch"


def _one_thread(step):
    """`step` run with one intra-op thread, the others' setting restored.

    On a CPU shared with other processes, PyTorch's OpenMP threads wait at
    every parallel region for the one that was descheduled; one thread
    never waits.
    """

    def one_thread_step():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return step()
        finally:
            torch.set_num_threads(threads)

    return one_thread_step


def main(argv=None):
    """Runs `compare` and writes its results, with the machine, as JSON."""
    parser = argparse.ArgumentParser(
        description="Keras's k-sparse autoencoder against direct PyTorch."
    )
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--gpu-settings",
        action="store_true",
        help="the MNIST and wide shapes, with torch.compile",
    )
    args = parser.parse_args(argv)
    results = {
        "machine": timing.machine(),
        "comparisons": compare(
            shapes_for(quick=args.quick, gpu_settings=args.gpu_settings),
            repeats=args.repeats,
            calls=args.calls,
            warmup=args.warmup,
            compile_torch=args.gpu_settings,
        ),
        "load_average_at_end": timing.load_average(),
    }
    with open(args.out, "w") as file:
        json.dump(results, file, indent=2)


def shapes_for(*, quick, gpu_settings):
    """The shapes a run compares: MNIST, and the wide one on a GPU."""
    if gpu_settings:
        return (QUICK_MNIST, QUICK_WIDE) if quick else (MNIST, WIDE)
    return (QUICK_MNIST,) if quick else (MNIST,)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
