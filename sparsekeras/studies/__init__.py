"""The studies wing: what the project runs to show and measure the library.

The five-case MNIST comparison (`five_cases`), the k-sparse paper's table
(`makhzani_table1`), their NumPy instruments and pictures, and the
`sparsekeras` command line that runs them. Nothing in the library wing
(layers, models, regularizers, losses, metrics, datasets, testing) imports
from here; see the Architecture page of the docs.
"""
