"""`_ops.tuning.cond_where_known`: the same result as `ops.cond`, and
outside a trace only the branch taken runs (on JAX `ops.cond` traces and
compiles both on every eager call)."""

import keras
import numpy as np
from keras import ops

from sparsekeras._ops.tuning import cond_where_known


def _counting_branches():
    ran = []

    def true_fn():
        ran.append("true")
        return ops.ones((2,))

    def false_fn():
        ran.append("false")
        return ops.zeros((2,))

    return ran, true_fn, false_fn


def test_cond_where_known_runs_only_the_branch_taken_outside_a_trace():
    for pred, expected in ((True, 1.0), (False, 0.0)):
        ran, true_fn, false_fn = _counting_branches()
        out = cond_where_known(ops.convert_to_tensor(pred), true_fn, false_fn)
        np.testing.assert_array_equal(ops.convert_to_numpy(out), expected)
        assert ran == ["true" if pred else "false"]


def test_cond_where_known_branches_on_a_traced_predicate():
    # In a compiled step the predicate is symbolic: both values still work.
    model = keras.Sequential([keras.layers.Lambda(_select)])
    model.compile(jit_compile=keras.backend.backend() != "torch")
    x = np.array([[1.0, 2.0], [-1.0, -2.0]], "float32")
    for row, expected in ((x[:1], x[:1]), (x[1:], -x[1:])):
        np.testing.assert_array_equal(model.predict(row, verbose=0), expected)


def _select(x):
    return cond_where_known(ops.all(x > 0), lambda: x, lambda: -x)
