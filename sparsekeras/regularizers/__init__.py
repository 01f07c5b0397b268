"""Regularizers of Ng's sparse autoencoder notes."""

from sparsekeras.regularizers.kl_sparsity import KLSparsityRegularizer
from sparsekeras.regularizers.weight_decay import WeightDecay

__all__ = ["KLSparsityRegularizer", "WeightDecay"]
