"""sparsekeras: sparse coding as drop-in Keras 3 layers and regularizers."""

from sparsekeras import datasets, layers, metrics, regularizers, visualize
from sparsekeras.layers import (
    KSparse,
    NeuralSparseCoding,
    SparseDense,
    TiedDense,
)
from sparsekeras.regularizers import KLSparsityRegularizer, WeightDecay

__version__ = "0.1.0"

__all__ = [
    "KLSparsityRegularizer",
    "KSparse",
    "NeuralSparseCoding",
    "SparseDense",
    "TiedDense",
    "WeightDecay",
    "datasets",
    "layers",
    "metrics",
    "regularizers",
    "visualize",
    "__version__",
]
