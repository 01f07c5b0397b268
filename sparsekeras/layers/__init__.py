"""Layers that make activations sparse, and one that decodes sparse codes."""

from sparsekeras.layers.ksparse import KSparse
from sparsekeras.layers.neural_sparse_coding import NeuralSparseCoding
from sparsekeras.layers.sparse_dense import SparseDense
from sparsekeras.layers.tied_dense import TiedDense

__all__ = ["KSparse", "NeuralSparseCoding", "SparseDense", "TiedDense"]
