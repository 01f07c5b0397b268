"""Property-test the sparsity invariants of your own layers and models.

`check_top_k_layer`, `check_dictionary_layer` and
`check_sparsity_regularizer` run batteries of invariants, as
scikit-learn's `check_estimator` does; the `assert_*` helpers check one
invariant on arrays you have, `gradient_of_sum` differentiates on any
backend, and `sparsekeras.testing.strategies` draws the hard inputs. The
`check_*` functions and the strategies need hypothesis
(`pip install "sparsekeras[testing]"`); the rest needs numpy and Keras
only. See
[Property-testing your sparse model][property-testing-your-sparse-model].
"""

from sparsekeras.testing.assertions import (
    assert_gradient_only_through_kept,
    assert_keeps_top_k,
    assert_unit_norm_columns,
)
from sparsekeras.testing.checks import (
    check_dictionary_layer,
    check_sparsity_regularizer,
    check_top_k_layer,
)
from sparsekeras.testing.gradients import gradient_of_sum

__all__ = [
    "assert_gradient_only_through_kept",
    "assert_keeps_top_k",
    "assert_unit_norm_columns",
    "check_dictionary_layer",
    "check_sparsity_regularizer",
    "check_top_k_layer",
    "gradient_of_sum",
]
