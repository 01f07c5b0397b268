"""sparsekeras: sparse coding as drop-in Keras 3 layers and regularizers."""

from sparsekeras import (
    callbacks,
    datasets,
    feature_recovery,
    layers,
    losses,
    metrics,
    models,
    regularizers,
)
from sparsekeras.layers import (
    BatchTopK,
    KSparse,
    NeuralSparseCoding,
    SparseDense,
    TiedDense,
)
from sparsekeras.models import SparseAutoencoder
from sparsekeras.regularizers import KLSparsityRegularizer, WeightDecay

__version__ = "0.1.0"

__all__ = [
    "BatchTopK",
    "KLSparsityRegularizer",
    "KSparse",
    "NeuralSparseCoding",
    "SparseAutoencoder",
    "SparseDense",
    "TiedDense",
    "WeightDecay",
    "callbacks",
    "datasets",
    "feature_recovery",
    "layers",
    "losses",
    "metrics",
    "models",
    "regularizers",
    "__version__",
]
