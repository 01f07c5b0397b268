"""Layers that make activations sparse."""

from sparsekeras.layers.ksparse import KSparse
from sparsekeras.layers.neural_sparse_coding import NeuralSparseCoding

__all__ = ["KSparse", "NeuralSparseCoding"]
