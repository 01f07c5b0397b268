"""Issue 14's measurements on a GPU: top-k, the autoencoder step, `fit`.

On the lent GPU machine (see `../shared/gpu/README.md`: JAX backend,
Keras carried as wheels), from the project's root:

    KERAS_BACKEND=jax python -m benchmarks.gpu_topk --out $OUT/gpu_topk

writes `results.json` and `results.md` in `--out`, with three sections,
each timed interleaved (`benchmarks.timing`) in this one process:

1. `top_k`: the raw top-k of a batch of rows, under the backend's `jit`:
   the backend's own `top_k` (`lax.top_k` on JAX), the chunk-maxima
   top-k of `sparsekeras._ops.top_k` (forced, whatever the
   cut-over), the selection `KSparse` runs (`keep_top_k`, which takes the
   chunk method where the cut-over says so), and `torch.topk`.
2. `autoencoder`: `benchmarks.ksparse_vs_torch`'s k-sparse autoencoder
   step (Adam, forward, backward, update) for Keras (`KSparse`, annealed,
   sparse decoding) against PyTorch eager and `torch.compile`, each in
   FP32 and in TF32 (`_tf32`), with each contender's peak device memory
   measured in a process of its own.
3. `fit`: seconds per step of `model.fit` at 784 -> 1000, batch 256, for
   a plain Keras autoencoder (no sparsekeras), the same with `KSparse(25)`
   and with `KSparse(25, k_start=100)` while annealing, at
   `steps_per_execution` 1 and 64.

`--smoke` shrinks every shape to run in a minute on a CPU: it proves the
script runs, its figures mean nothing.
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from benchmarks import ksparse_vs_torch, timing  # noqa: E402
from sparsekeras.layers import KSparse, _fast_top_k, _selection  # noqa: E402

TOP_K_SHAPES = ((4096, 24576, 32), (4096, 24576, 128), (256, 1000, 25))
SMOKE_TOP_K_SHAPES = ((64, 2048, 8), (16, 100, 5))
FIT = {"input_dim": 784, "units": 1000, "k": 25, "batch_size": 256}
SMOKE_FIT = {"input_dim": 64, "units": 96, "k": 4, "batch_size": 16}
FIT_STEPS = 256
SMOKE_FIT_STEPS = 8


def _compiled(function):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(function)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True)
    return function


def _finished(outputs):
    """Waits for `outputs` (a tensor or tuple) to be computed."""
    first = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
    if keras.backend.backend() == "jax":
        first.block_until_ready()
    else:
        ops.convert_to_numpy(ops.reshape(first, (-1,))[:1])


def _device():
    return str(keras.distribution.list_devices()[0])


def top_k_contenders(rows, size, k):
    """Name to a zero-argument callable that runs one top-k and waits."""
    x = np.random.default_rng(0).standard_normal((rows, size), "float32")
    tensor = ops.convert_to_tensor(x)
    functions = {
        "backend_top_k": _compiled(lambda x: ops.top_k(x, k)),
        "chunked_top_k": _compiled(lambda x: _fast_top_k.chunked_top_k(x, k)),
        "keep_top_k": _compiled(lambda x: _selection.keep_top_k(x, k, k)),
    }
    contenders = {
        name: (lambda f=f: _finished(f(tensor)))
        for name, f in functions.items()
    }
    try:
        import torch
    except ImportError:
        return contenders
    device = "cuda" if torch.cuda.is_available() else "cpu"
    on_torch = torch.from_numpy(x).to(device)

    def torch_topk():
        values, _ = torch.topk(on_torch, k, dim=-1)
        if device == "cuda":
            torch.cuda.synchronize()
        return values

    contenders["torch_topk"] = torch_topk
    return contenders


def top_k_section(shapes, *, repeats, calls, warmup):
    results = {}
    for rows, size, k in shapes:
        if -(-size // _fast_top_k.CHUNK) < k:
            continue
        seconds = timing.interleaved(
            top_k_contenders(rows, size, k),
            repeats=repeats,
            calls=calls,
            warmup=warmup,
        )
        results[f"{rows}x{size}_k{k}"] = {
            "uses_chunks": _fast_top_k.pays(size, k + 1),
            "summary": timing.summarize(seconds, "backend_top_k"),
        }
    return results


def _fit_model(sizes, selection):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((sizes["input_dim"],))
    codes = keras.layers.Dense(sizes["units"])(inputs)
    if selection == "ksparse":
        codes = KSparse(sizes["k"])(codes)
    elif selection == "ksparse_annealing":
        codes = KSparse(
            sizes["k"],
            k_start=min(4 * sizes["k"], sizes["units"]),
            anneal_steps=2**30,
        )(codes)
    else:
        codes = keras.layers.Activation("sigmoid")(codes)
    outputs = keras.layers.Dense(sizes["input_dim"], activation="sigmoid")(
        codes
    )
    return keras.Model(inputs, outputs)


def fit_section(sizes, steps, *, repeats, warmup):
    """Seconds per `fit` step, interleaved, ratios to the plain model."""
    x = np.random.default_rng(0).random(
        (steps * sizes["batch_size"], sizes["input_dim"]), "float32"
    )
    results = {}
    for steps_per_execution in (1, 64):
        contenders = {}
        for selection in ("plain", "ksparse", "ksparse_annealing"):
            model = _fit_model(sizes, selection)
            model.compile(
                optimizer=keras.optimizers.Adam(1e-3),
                loss="mse",
                steps_per_execution=steps_per_execution,
            )

            def one_epoch(model=model):
                model.fit(
                    x, x, batch_size=sizes["batch_size"], epochs=1, verbose=0
                )

            contenders[selection] = one_epoch
        seconds = timing.interleaved(
            contenders, repeats=repeats, calls=1, warmup=warmup
        )
        per_step = {
            name: [t / steps for t in times] for name, times in seconds.items()
        }
        results[f"steps_per_execution_{steps_per_execution}"] = (
            timing.summarize(per_step, "plain")
        )
    return results


def markdown(results):
    """The results as markdown tables (milliseconds, ratios)."""
    lines = [
        "# Issue 14 on " + results["device"],
        "",
        f"`{results['command']}`, Keras backend "
        f"`{results['machine']['keras_backend']}`"
        + (
            " (smoke run: shapes too small to mean anything)" * results["smoke"]
        ),
        "",
        "## Top-k (ms; ratio to the backend's own top_k)",
        "",
        "| shape | contender | median ms | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for shape, entry in results["top_k"].items():
        for name, row in entry["summary"].items():
            lines.append(
                f"| {shape} | {name} | {1e3 * row['median_s']:.3f} | "
                f"{row['ratio']:.2f} |"
            )
    lines += [
        "",
        "## Autoencoder step (ms; ratio to PyTorch eager FP32; peak memory)",
        "",
        "| shape | contender | median ms | ratio | peak MB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for shape, entry in results["autoencoder"].items():
        peaks = entry["peak_memory_bytes"]
        for name, row in entry["summary"].items():
            peak = peaks.get(name) if peaks else None
            peak = "n/a" if peak is None else f"{peak / 2**20:.0f}"
            lines.append(
                f"| {shape} | {name} | {1e3 * row['median_s']:.3f} | "
                f"{row['ratio']:.2f} | {peak} |"
            )
    lines += [
        "",
        "## `fit` step (ms per step; ratio to the plain Keras autoencoder)",
        "",
        "| steps_per_execution | model | median ms | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for setting, summary in results["fit"].items():
        for name, row in summary.items():
            lines.append(
                f"| {setting.rsplit('_', 1)[-1]} | {name} | "
                f"{1e3 * row['median_s']:.3f} | {row['ratio']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_topk")
    parser.add_argument("--out", required=True, help="folder for results")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny shapes, one repetition"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.calls, args.warmup = 2, 1, 1
    started = time.perf_counter()
    timings = dict(repeats=args.repeats, warmup=args.warmup)
    import torch

    results = {
        "command": "python -m benchmarks.gpu_topk "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "device": _device(),
        "smoke": args.smoke,
        "machine": timing.machine(),
        "top_k": top_k_section(
            SMOKE_TOP_K_SHAPES if args.smoke else TOP_K_SHAPES,
            calls=args.calls,
            **timings,
        ),
        "autoencoder": ksparse_vs_torch.compare(
            ksparse_vs_torch.shapes_for(quick=args.smoke, gpu_settings=True),
            calls=args.calls,
            compile_torch=torch.cuda.is_available(),
            **timings,
        ),
        "fit": fit_section(
            SMOKE_FIT if args.smoke else FIT,
            SMOKE_FIT_STEPS if args.smoke else FIT_STEPS,
            **timings,
        ),
    }
    results["seconds"] = time.perf_counter() - started
    results["median_load_average"] = statistics.median(timing.load_average())
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
