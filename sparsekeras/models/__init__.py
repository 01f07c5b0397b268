"""Models built from sparsekeras components."""

from sparsekeras.models.sae_layout_map import sae_layout_map
from sparsekeras.models.sparse_autoencoder import SparseAutoencoder

__all__ = ["SparseAutoencoder", "sae_layout_map"]
