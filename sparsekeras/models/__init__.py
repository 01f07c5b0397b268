"""Models built from sparsekeras components."""

from sparsekeras.models.matryoshka import matryoshka_group_sizes
from sparsekeras.models.sae_layout_map import sae_layout_map
from sparsekeras.models.sparse_autoencoder import SparseAutoencoder

__all__ = ["SparseAutoencoder", "matryoshka_group_sizes", "sae_layout_map"]
