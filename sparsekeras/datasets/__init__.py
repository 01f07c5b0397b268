"""Data sets: MNIST, with a built-in sample for offline use."""

from sparsekeras.datasets.mnist import MnistData, load_mnist

__all__ = ["MnistData", "load_mnist"]
