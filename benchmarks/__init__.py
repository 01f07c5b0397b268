"""Benchmarks of sparsekeras: `python -m benchmarks.run --help`.

Nothing here is part of the library, and the tests never import it: the one
smoke test runs the command in a subprocess.
"""

try:
    # Before Keras: on a machine with both TensorFlow and Triton, importing
    # Triton (PyTorch's optimizers do, through torch._dynamo) once
    # TensorFlow is loaded crashes the process.
    import torch._dynamo  # noqa: F401
except ImportError:
    pass
