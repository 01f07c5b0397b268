"""Benchmarks of sparsekeras: `python -m benchmarks.run --help`.

Nothing here is part of the library. The tests import it only in a
subprocess (the smoke tests run its commands), or load one module by its
path without this package: imported after TensorFlow, the import below
would crash the test process.
"""

try:
    # Before Keras: on a machine with both TensorFlow and Triton, importing
    # Triton (PyTorch's optimizers do, through torch._dynamo) once
    # TensorFlow is loaded crashes the process.
    import torch._dynamo  # noqa: F401
except ImportError:
    pass
