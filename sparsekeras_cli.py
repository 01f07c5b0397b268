"""The `sparsekeras` console script: quick to answer, quiet by default.

Importing any module of `sparsekeras` runs the package's `__init__`,
which imports Keras and its backend (seconds, and TensorFlow's log lines)
so that `import sparsekeras` registers every layer for `load_model`. The
command needs none of that to parse its arguments, print `--help` or
refuse an argument, so this launcher puts the `sparsekeras` package into
`sys.modules` with its `__init__` not yet run, and runs it when a command
starts to train (`sparsekeras.studies.cli.start_library`). Then, unless
`--verbose`:

- the C++ log lines of TensorFlow, absl and XLA (`I0000 ... port.cc`,
  `failed call to cuInit`), which they write to file descriptor 2, are
  dropped, while Python's `sys.stderr` (warnings, errors, tracebacks)
  still reaches the terminal;
- the `tensorflow` and `absl` Python loggers show errors only.

With `KERAS_BACKEND` set to JAX, PyTorch or NumPy, TensorFlow is kept out
of the process: Keras would import it only to seed it.
"""

import importlib.util
import logging
import os
import sys

NOT_TENSORFLOW = ("jax", "torch", "numpy", "openvino")


def main(argv=None):
    """Runs `sparsekeras.studies.cli.main` with the library loaded late."""
    if "sparsekeras" in sys.modules:
        from sparsekeras.studies import cli

        return cli.main(argv)
    spec = importlib.util.find_spec("sparsekeras")
    package = importlib.util.module_from_spec(spec)
    sys.modules["sparsekeras"] = package
    from sparsekeras.studies import cli

    def load(verbose):
        if os.environ.get("KERAS_BACKEND") in NOT_TENSORFLOW:
            sys.modules.setdefault("tensorflow", None)
        if not verbose:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            _drop_native_stderr()
        spec.loader.exec_module(package)
        if not verbose:
            for name in ("tensorflow", "absl"):
                logging.getLogger(name).setLevel(logging.ERROR)

    cli.LIBRARY_LOADERS.append(load)
    return cli.main(argv)


def _drop_native_stderr():
    """Points file descriptor 2 at /dev/null, `sys.stderr` at the terminal."""
    try:
        terminal = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return
    sys.stderr.flush()
    sys.stderr = os.fdopen(terminal, "w", buffering=1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)


if __name__ == "__main__":
    sys.exit(main())
