"""Reproductions of published results with sparsekeras's components."""
