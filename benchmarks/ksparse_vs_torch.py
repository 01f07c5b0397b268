"""The k-sparse autoencoder in Keras against the same model in PyTorch.

Both sides train `Dense(units) -> top k -> Dense(input_dim)` (sigmoid
output for MNIST pixels, linear for the wide synthetic setting) with Adam
(learning rate 1e-3, epsilon 1e-7, Keras's default) on UFLDL's cost
`(1/2) |x - x_hat|^2`, averaged over the batch, on the same batch. The
PyTorch model keeps the top k with `torch.topk` and `scatter`, the usual
way. Keras runs on whatever backend `KERAS_BACKEND` names, as
`KSparse(k)`, as case (e)'s annealed `KSparse(k, k_start=4k, ...)`, and
with sparse decoding, `KSparse(k, return_indices=True)` feeding a
`SparseDense` decoder that gathers the k rows it needs; PyTorch runs
eagerly and, optionally, under `torch.compile`; on a GPU each also
multiplies in TF32 (`_tf32`), as JAX does there by default, beside full
FP32 (the names without the suffix). On a CPU, whatever runs on
PyTorch is also timed with one intra-op thread. Every step ends by reading
the loss as a Python float, which waits for the device.

On a GPU, each contender's peak device memory is measured in a process of
its own, which builds only that contender and runs its warm-up steps: the
allocators' peaks (JAX's `peak_bytes_in_use`,
`torch.cuda.max_memory_allocated`) count everything a process allocated,
and JAX's cannot be reset.

`python -m benchmarks.ksparse_vs_torch --out FILE.json` runs it in a
process of its own: `benchmarks.run` does so with `KERAS_BACKEND=torch`,
as a process's Keras backend is fixed when Keras is imported. `--shape`
picks shapes by name, e.g. `--shape wide_768x8192_k32_b256` for the wide
setting at a CPU's scale.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import keras
import numpy as np
import torch

from benchmarks import timing
from sparsekeras.datasets import load_mnist
from sparsekeras.layers import KSparse, SparseDense
from sparsekeras.losses import SquaredErrorCost

BASELINE = "torch_eager"
ONE_THREAD = "torch_eager_1_thread"
# Case (e) anneals from k_start = 100 = 4 * 25 over its first 1,175 steps.
ANNEAL_FACTOR = 4
ANNEAL_STEPS = 1175
ROOT = pathlib.Path(__file__).resolve().parents[1]


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
CPU_WIDE = Shape("wide_768x8192_k32_b256", 768, 8192, 32, 256, "normal")
"""The wide setting at a CPU's scale: a third of the units, batches of 256."""
QUICK_MNIST = Shape("mnist_784x64_k8_b32_quick", 784, 64, 8, 32, "mnist")
QUICK_WIDE = Shape("wide_96x512_k8_b64_quick", 96, 512, 8, 64, "normal")
SHAPES = {
    shape.name: shape
    for shape in (MNIST, WIDE, CPU_WIDE, QUICK_MNIST, QUICK_WIDE)
}


def compare(shapes, *, repeats, calls, warmup, compile_torch):
    """Times Keras and PyTorch on each shape, interleaved.

    Returns:
        A dict from shape name to `{"shape": ..., "device": ...,
        "summary": ..., "sparse_decoding_vs_dense": ...,
        "peak_memory_bytes": ...}`: the summary `timing.summarize`'s with
        ratios to eager PyTorch; the same for Keras's sparse decoding with
        ratios to Keras's dense decoding (plain `KSparse`); each
        contender's peak device memory, or None on a CPU. On a CPU, also
        `"summary_vs_one_thread"`, with ratios to eager PyTorch on one
        thread (contenders that run on PyTorch have a `_1_thread` twin
        there).
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dense, sparse = _keras_name(), _keras_name("_sparse_decoding")
    results = {}
    for shape in shapes:
        makers = _contender_makers(shape, device, compile_torch)
        peaks = {
            name: _peak_memory_in_own_process(shape, name, warmup)
            if device == "cuda"
            else None
            for name in makers
        }
        contenders = {name: make() for name, make in makers.items()}
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
            "sparse_decoding_vs_dense": timing.summarize(
                {name: seconds[name] for name in (dense, sparse)}, dense
            ),
            "peak_memory_bytes": peaks,
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


def keras_model(shape, *, annealed=False, sparse_decoding=False):
    """The Keras k-sparse autoencoder of `shape`, compiled.

    With `sparse_decoding`, `KSparse` returns `(values, indices)` and a
    `SparseDense` decoder gathers the rows of its kernel that they name.
    """
    keras.utils.set_random_seed(0)
    schedule = {}
    if annealed:
        schedule = {
            "k_start": min(ANNEAL_FACTOR * shape.k, shape.units),
            "anneal_steps": ANNEAL_STEPS,
        }
    activation = _output_activation(shape)
    if sparse_decoding:
        decoder = SparseDense(
            shape.input_dim, input_dim=shape.units, activation=activation
        )
    else:
        decoder = keras.layers.Dense(shape.input_dim, activation=activation)
    inputs = keras.Input((shape.input_dim,))
    codes = keras.layers.Dense(shape.units)(inputs)
    sparse = KSparse(shape.k, **schedule, return_indices=sparse_decoding)
    model = keras.Model(inputs, decoder(sparse(codes)))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=SquaredErrorCost()
    )
    return model


def _keras_name(suffix=""):
    return f"keras_{keras.backend.backend()}{suffix}"


def _contender_makers(shape, device, compile_torch):
    """Name to a function that builds the contender's step, in order."""
    batch = _batch(shape)
    makers = {
        _keras_name(): lambda: _keras_step(shape, batch),
        _keras_name("_annealed"): lambda: _keras_step(
            shape, batch, annealed=True
        ),
        _keras_name("_sparse_decoding"): lambda: _keras_step(
            shape, batch, sparse_decoding=True
        ),
        BASELINE: lambda: _torch_step(shape, batch, device, False),
    }
    if compile_torch:
        makers["torch_compile"] = lambda: _torch_step(
            shape, batch, device, True
        )
    if device == "cuda":
        # JAX multiplies float32 matrices in TF32 on these GPUs by default;
        # PyTorch's FP32 contenders above are labelled by their names.
        makers["torch_eager_tf32"] = lambda: _torch_step(
            shape, batch, device, False, tf32=True
        )
        if compile_torch:
            makers["torch_compile_tf32"] = lambda: _torch_step(
                shape, batch, device, True, tf32=True
            )
    return makers


def _keras_step(shape, batch, **options):
    model = keras_model(shape, **options)
    tensor = keras.ops.convert_to_tensor(batch)
    return lambda: model.train_on_batch(tensor, tensor)


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


def _torch_step(shape, batch, device, compiled, tf32=False):
    """One PyTorch step; `tf32` multiplies in TF32 (only on a GPU)."""
    torch.manual_seed(0)
    model = TorchKSparseAutoencoder(shape).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    forward = torch.compile(model) if compiled else model
    inputs = torch.from_numpy(batch).to(device)

    def step():
        # A process-wide setting: set for each contender's own steps.
        torch.backends.cuda.matmul.allow_tf32 = tf32
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


def _peak_memory_in_own_process(shape, name, warmup):
    """`name`'s peak device memory in bytes, from a process of its own."""
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder) / "peak.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.ksparse_vs_torch",
                f"--out={out}",
                f"--shape={shape.name}",
                f"--peak-memory-of={name}",
                f"--warmup={warmup}",
            ],
            check=True,
            cwd=ROOT,
            # JAX allocates on demand, not 75% of the GPU up front, as the
            # parent process may hold GPU memory of its own.
            env=os.environ | {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"},
        )
        return json.loads(out.read_text())["peak_memory_bytes"]


def peak_memory(shape, name, steps):
    """Peak device memory of this process after `steps` steps of `name`.

    Returns:
        Bytes, from `torch.cuda.max_memory_allocated` for what runs on
        PyTorch and from JAX's `peak_bytes_in_use` for Keras on JAX; None
        on a CPU or another Keras backend.
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    step = _contender_makers(shape, device, compile_torch=True)[name]()
    for _ in range(steps):
        step()
    if _on_torch(name):
        return torch.cuda.max_memory_allocated() if device == "cuda" else None
    if keras.backend.backend() == "jax":
        import jax

        stats = jax.devices()[0].memory_stats()
        return stats["peak_bytes_in_use"] if stats else None
    return None


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
    parser.add_argument(
        "--shape",
        action="append",
        choices=list(SHAPES),
        help="a shape to compare, instead of those of the other options "
        "(repeat for several)",
    )
    parser.add_argument(
        "--peak-memory-of",
        metavar="CONTENDER",
        help="only write the peak device memory of CONTENDER's warm-up "
        "steps on the one --shape",
    )
    args = parser.parse_args(argv)
    if args.peak_memory_of:
        if not args.shape or len(args.shape) != 1:
            parser.error("--peak-memory-of needs exactly one --shape")
        shape = SHAPES[args.shape[0]]
        peak = peak_memory(shape, args.peak_memory_of, args.warmup)
        with open(args.out, "w") as file:
            json.dump({"peak_memory_bytes": peak}, file)
        return
    shapes = shapes_for(quick=args.quick, gpu_settings=args.gpu_settings)
    if args.shape:
        shapes = tuple(SHAPES[name] for name in args.shape)
    results = {
        "machine": timing.machine(),
        "comparisons": compare(
            shapes,
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
