"""Data sets: MNIST (with a built-in sample) and planted features."""

from sparsekeras.datasets.mnist import MnistData, load_mnist
from sparsekeras.datasets.synthetic import (
    PlantedFeatureBatches,
    PlantedFeatures,
    planted_features,
    synthsaebench_16k,
)

__all__ = [
    "MnistData",
    "PlantedFeatureBatches",
    "PlantedFeatures",
    "load_mnist",
    "planted_features",
    "synthsaebench_16k",
]
