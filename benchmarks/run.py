"""Runs every benchmark and writes `results.md`, `results.json` and plots.

    python -m benchmarks.run --data ../shared/data/mnist.npz \
        --out benchmarks/results

runs, on the CPU with the TensorFlow backend (or `KERAS_BACKEND`'s):

1. the cost of sparsity: train-step time of the five MNIST cases, and
   seconds per epoch on the 60,000 MNIST training images (`--data`);
2. dictionary recovery against scikit-learn, in the theorem's sparse
   setting and in a denser one;
3. the k-sparse autoencoder against the same model in PyTorch, with Keras
   on this process's backend and, in a second process, on PyTorch's.

`--quick` shrinks everything to a smoke run of seconds. `--gpu-settings`
runs only the k-sparse comparison, on the shapes meant for a GPU (784-1000
with k = 25 and batches of 256; 768-24576 with k = 32 and batches of
4096), against eager and compiled PyTorch, on this process's backend (the
GPU machine has no TensorFlow: set `KERAS_BACKEND=jax`). It needs neither
scikit-learn nor matplotlib.
"""

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Every case model traces its own train function, which TensorFlow's
# retracing warning counts as if it were one function retraced.
logging.getLogger("tensorflow").setLevel(logging.ERROR)

import keras  # noqa: E402

from benchmarks import timing  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("steps", "epochs", "recovery", "torch")
STARTED = time.perf_counter()


def build_parser():
    """The command line of `python -m benchmarks.run`."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=(
            "Runs the sparsekeras benchmarks and writes results.md, "
            "results.json and plots."
        ),
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / "benchmarks" / "results"),
        help="folder for the results (default: benchmarks/results)",
    )
    parser.add_argument(
        "--repeats",
        type=_positive_int,
        default=15,
        help="interleaved repetitions of the k-sparse comparison's step timing "
        "(default: 15)",
    )
    parser.add_argument(
        "--calls",
        type=_positive_int,
        default=4,
        help="steps per contender in one repetition (default: 4)",
    )
    parser.add_argument(
        "--step-repeats",
        type=_positive_int,
        default=40,
        help="interleaved repetitions of the cost-of-sparsity step timing "
        "(default: 40)",
    )
    parser.add_argument(
        "--step-calls",
        type=_positive_int,
        default=10,
        help="steps per case in one such repetition (default: 10)",
    )
    parser.add_argument(
        "--warmup",
        type=_positive_int,
        default=3,
        help="untimed steps per contender first (default: 3)",
    )
    parser.add_argument(
        "--epoch-repeats",
        type=_positive_int,
        default=2,
        help="timed epochs per MNIST case (default: 2)",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="full MNIST .npz for the cost of sparsity (default: "
        "sparsekeras's `load_mnist()`: Keras's MNIST, or offline the "
        "embedded sample; results.json names the one read)",
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        type=_sections,
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the recovery problems"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and one repetition: a smoke run of seconds",
    )
    parser.add_argument(
        "--gpu-settings",
        action="store_true",
        help="only the k-sparse comparison, on the GPU shapes",
    )
    return parser


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text}"
        )
    return value


def _sections(text):
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown sections {unknown}; expected some of {list(SECTIONS)}"
        )
    return chosen


def main(argv=None):
    """Runs the benchmarks that `argv` asks for and writes the results."""
    args = build_parser().parse_args(argv)
    if args.quick:
        args.repeats, args.calls, args.warmup, args.epoch_repeats = 2, 2, 1, 1
        args.step_repeats, args.step_calls = 2, 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "command": _command(argv),
        "machine": timing.machine(),
        "settings": {
            key: getattr(args, key)
            for key in (
                "repeats",
                "calls",
                "step_repeats",
                "step_calls",
                "warmup",
                "epoch_repeats",
                "quick",
                "gpu_settings",
                "seed",
            )
        },
    }
    if args.gpu_settings:
        results["ksparse_vs_torch"] = _torch(args, gpu_settings=True)
    else:
        results.update(_cpu_suite(args, out))
    from benchmarks import report

    results["goals"] = report.goals(results)
    results["load_average_at_end"] = timing.load_average()
    results["seconds"] = time.perf_counter() - STARTED
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(report.markdown(results))
    print(report.markdown(results))
    _say(f"wrote {out / 'results.md'} and {out / 'results.json'}")


def _say(text):
    elapsed = time.perf_counter() - STARTED
    print(f"[{elapsed:5.0f} s] {text}", file=sys.stderr, flush=True)


def _command(argv):
    words = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", "-m", "benchmarks.run", *words])


def _cpu_suite(args, out):
    from benchmarks import report

    results = {}
    if "steps" in args.sections or "epochs" in args.sections:
        results.update(_sparsity(args))
        report.plot_cost_of_sparsity(
            out / "cost_of_sparsity.png",
            results.get("step_time"),
            results.get("epoch_time"),
        )
    if "recovery" in args.sections:
        results["recovery"] = _recovery(args)
        report.plot_recovery(
            out / "dictionary_recovery.png", results["recovery"]["runs"]
        )
    if "torch" in args.sections:
        results["ksparse_vs_torch"] = _torch(args, gpu_settings=False)
    return results


def _sparsity(args):
    from benchmarks import sparsity_cost
    from sparsekeras.datasets import load_mnist

    units, k, batch_size = (64, 8, 32) if args.quick else (1000, 25, 256)
    if args.quick:
        mnist = load_mnist(source="embedded")
    else:
        mnist = load_mnist(args.data)
    (images, _), _ = mnist
    images = images.reshape(len(images), -1).astype("float32") / 255.0
    if args.quick:
        images = images[:256]
    models = sparsity_cost.build_models(units=units, k=k)
    sizes = {"units": units, "k": k, "batch_size": batch_size}
    results = {}
    if "steps" in args.sections:
        _say("train-step time of the five cases")
        before = timing.load_average()
        references = sparsity_cost.build_models(
            units=units, k=k, keys=("weight_decay", "k_sparse")
        )
        sparsity_cost.end_annealing(references["k_sparse"])
        sparsity_cost.with_keras_l2(references["weight_decay"])
        summary = sparsity_cost.step_times(
            models
            | {
                "weight_decay_keras_l2": references["weight_decay"],
                "k_sparse_annealed": references["k_sparse"],
            },
            images,
            batch_size=batch_size,
            repeats=args.step_repeats,
            calls=args.step_calls,
            warmup=args.warmup,
        )
        results["step_time"] = sizes | {
            "summary": summary,
            "load_average": [before, timing.load_average()],
        }
    if "epochs" in args.sections:
        _say(f"seconds per epoch on {len(images):,} images")
        before = timing.load_average()
        summary = sparsity_cost.epoch_times(
            models, images, batch_size=batch_size, repeats=args.epoch_repeats
        )
        results["epoch_time"] = sizes | {
            "images": len(images),
            "data": mnist.description,
            "summary": summary,
            "load_average": [before, timing.load_average()],
        }
    return results


def _recovery(args):
    from benchmarks import dictionary_recovery as recovery

    settings = (
        (recovery.QUICK_SPARSE, recovery.QUICK_DENSE)
        if args.quick
        else (recovery.SPARSE, recovery.DENSE)
    )
    runs = {}
    for setting in settings:
        _say(f"dictionary recovery, {setting.name}")
        before = timing.load_average()
        run = recovery.run(setting, seed=args.seed)
        run["load_average"] = [before, timing.load_average()]
        runs[setting.name] = run
    return {"runs": runs}


def _torch(args, *, gpu_settings):
    """The k-sparse comparison here, and on the torch backend if on CPU."""
    from benchmarks import ksparse_vs_torch

    options = [
        f"--repeats={args.repeats}",
        f"--calls={args.calls}",
        f"--warmup={args.warmup}",
    ]
    options += ["--quick"] * args.quick + ["--gpu-settings"] * gpu_settings
    with tempfile.TemporaryDirectory() as folder:
        _say("k-sparse autoencoder against PyTorch")
        here = Path(folder) / "here.json"
        ksparse_vs_torch.main([f"--out={here}", *options])
        runs = {keras.backend.backend(): json.loads(here.read_text())}
        if not gpu_settings:
            _say("the same, with Keras on the torch backend")
            torch_backend = Path(folder) / "torch.json"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.ksparse_vs_torch",
                    f"--out={torch_backend}",
                    *options,
                ],
                check=True,
                cwd=ROOT,
                env=os.environ | {"KERAS_BACKEND": "torch"},
            )
            runs["torch"] = json.loads(torch_backend.read_text())
    return runs


if __name__ == "__main__":
    main()
