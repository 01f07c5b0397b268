"""The selection `KSparse` runs, this checkout's against a git revision's.

    python -m benchmarks.selection_cost --against 68f3bb0 [--repeats 11]

loads `sparsekeras/_ops/selection.py` as it was at `--against` (by
`git show`, beside this checkout's), checks that both keep the same entries
of each batch, and times `keep_top_k` of both, compiled (`jax.jit`,
`tf.function`, eager PyTorch), interleaved, on batches of 256 standard
normal rows: static k, and a traced k below `k_max` as during annealing.
It prints the median over repetitions of the ratio new / old per shape,
as JSON. `68f3bb0` is the last revision before the chunk-maxima top-k.
"""

import argparse
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from sparsekeras._ops import selection as _selection  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
# (row size, k, k_max): k < k_max is a traced k, as while annealing.
CASES = (
    (1000, 25, 25),
    (1000, 60, 100),
    (8192, 32, 32),
    (8192, 64, 128),
    (24576, 32, 32),
)


def _selection_at(revision):
    source = subprocess.run(
        ["git", "show", f"{revision}:sparsekeras/_ops/selection.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    folder = tempfile.mkdtemp()
    path = pathlib.Path(folder) / "old_selection.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_selection", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compiled(function):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(function)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function)
    return function


def compare(old, *, repeats, calls, rows=256):
    """`{case: {"ratio": new / old, "old_ms": ...}}` for each of `CASES`."""
    rng = np.random.default_rng(0)
    results = {}
    for size, k, k_max in CASES:
        x = ops.convert_to_tensor(rng.standard_normal((rows, size), "float32"))
        traced = ops.convert_to_tensor(np.int32(k))
        functions = {
            name: _compiled(
                lambda x, t, m=module, k=k, k_max=k_max: m.keep_top_k(
                    x, k if k == k_max else t, k_max
                )
            )
            for name, module in (("old", old), ("new", _selection))
        }
        kept = {
            name: ops.convert_to_numpy(f(x, traced))
            for name, f in functions.items()
        }
        if not np.array_equal(kept["old"], kept["new"]):
            raise AssertionError(f"different entries kept at {size}, k={k}")
        seconds = {"old": [], "new": []}
        for repeat in range(repeats):
            for name in ("old", "new") if repeat % 2 else ("new", "old"):
                start = time.perf_counter()
                for _ in range(calls):
                    ops.convert_to_numpy(functions[name](x, traced)[0, 0])
                seconds[name].append((time.perf_counter() - start) / calls)
        ratios = [
            n / o for n, o in zip(seconds["new"], seconds["old"], strict=True)
        ]
        results[f"{size}_k{k}_kmax{k_max}"] = {
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "old_ms": 1e3 * statistics.median(seconds["old"]),
        }
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.selection_cost")
    parser.add_argument("--against", default="68f3bb0")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args(argv)
    results = compare(
        _selection_at(args.against), repeats=args.repeats, calls=args.calls
    )
    print(
        json.dumps(
            {
                "backend": keras.backend.backend(),
                "against": args.against,
                "load_average": os.getloadavg(),
                "results": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
