"""Models built from sparsekeras components."""

from sparsekeras.models.sparse_autoencoder import SparseAutoencoder

__all__ = ["SparseAutoencoder"]
