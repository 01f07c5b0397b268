"""Keras callbacks: ground-truth scores logged during `fit`."""

from sparsekeras.callbacks.feature_recovery import FeatureRecovery

__all__ = ["FeatureRecovery"]
