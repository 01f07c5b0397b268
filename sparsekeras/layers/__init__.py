"""Layers that make activations sparse, and one that decodes sparse codes."""

from sparsekeras.layers.batch_top_k import BatchTopK
from sparsekeras.layers.jump_relu import JumpReLU
from sparsekeras.layers.ksparse import KSparse
from sparsekeras.layers.neural_sparse_coding import NeuralSparseCoding
from sparsekeras.layers.sparse_dense import SparseDense
from sparsekeras.layers.tied_dense import TiedDense

__all__ = [
    "BatchTopK",
    "JumpReLU",
    "KSparse",
    "NeuralSparseCoding",
    "SparseDense",
    "TiedDense",
]
