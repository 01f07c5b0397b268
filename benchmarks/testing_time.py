"""How long `check_top_k_layer` takes at its default sizes.

Runs `check_top_k_layer(lambda: KSparse(4), k=4, input_dim=16)` once per
backend, each in a fresh process (the backend is fixed at import), and
prints the seconds each took, imports excluded. The goal (issue #12) is
under a minute per backend on 2 CPU cores.

Usage: python -m benchmarks.testing_time [--backends tensorflow jax torch]
"""

import argparse
import os
import subprocess
import sys

ONE_RUN = """
import time
from sparsekeras.layers import KSparse
from sparsekeras.testing import check_top_k_layer
start = time.perf_counter()
check_top_k_layer(lambda: KSparse(4), k=4, input_dim=16)
print(time.perf_counter() - start)
"""


def seconds_on(backend):
    """Seconds the check took in a fresh process on `backend`."""
    result = subprocess.run(
        [sys.executable, "-c", ONE_RUN],
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backends", nargs="+", default=["tensorflow", "jax", "torch"]
    )
    args = parser.parse_args(argv)
    for backend in args.backends:
        print(f"{backend}: {seconds_on(backend):.1f} s", flush=True)


if __name__ == "__main__":
    main()
