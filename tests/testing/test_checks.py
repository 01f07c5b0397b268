"""The checkers pass correct components and name what a broken one breaks."""

import importlib
import sys

import keras
import pytest
from keras import ops

from sparsekeras.layers import KSparse, NeuralSparseCoding
from sparsekeras.regularizers import KLSparsityRegularizer, WeightDecay
from sparsekeras.testing import (
    check_dictionary_layer,
    check_sparsity_regularizer,
    check_top_k_layer,
)


def keep_top_k(x, k):
    """The `k` largest entries of each row of `x`, zeros elsewhere."""
    _, indices = ops.top_k(x, k)
    kept = ops.sum(ops.one_hot(indices, ops.shape(x)[-1]), axis=-2) > 0
    return ops.where(kept, x, ops.zeros_like(x))


class TopK(keras.layers.Layer):
    """A user-written top-k layer, and the base of the broken ones."""

    def __init__(self, k, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def call(self, inputs, training=None):
        return keep_top_k(inputs, self.k)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class KeepsOneMore(TopK):
    def call(self, inputs, training=None):
        return keep_top_k(inputs, self.k + 1)


class KeepsTheSmallest(TopK):
    def call(self, inputs, training=None):
        return -keep_top_k(-inputs, self.k)


class LeaksGradient(TopK):
    """Forward the top k; backward the identity, dropped entries included."""

    def call(self, inputs, training=None):
        dropped = inputs - keep_top_k(inputs, self.k)
        return inputs - ops.stop_gradient(dropped)


class ForgetsK(TopK):
    def get_config(self):
        config = super().get_config()
        del config["k"]
        return config


def test_a_correct_user_layer_passes_without_registration():
    check_top_k_layer(lambda: TopK(2), k=2, input_dim=5, max_examples=5)


def test_nonfinite_inputs_are_checked_when_asked():
    check_top_k_layer(
        lambda: KSparse(2),
        k=2,
        input_dim=4,
        max_examples=3,
        check_nonfinite=True,
    )


@pytest.mark.parametrize(
    "layer_class, invariant",
    [
        (KeepsOneMore, "exactly k per row"),
        (KeepsTheSmallest, "keeps the k largest"),
        (LeaksGradient, "gradient through the kept entries only"),
        (ForgetsK, "get_config round trip"),
    ],
)
def test_a_broken_top_k_layer_fails_naming_the_invariant(
    layer_class, invariant
):
    with pytest.raises(AssertionError, match=f"^{invariant}") as info:
        check_top_k_layer(
            lambda: layer_class(2), k=2, input_dim=5, max_examples=5
        )
    assert "row" in str(info.value) or "config" in str(info.value)


def test_a_layer_that_changes_the_shape_fails():
    class FlattensOutput(TopK):
        def call(self, inputs, training=None):
            return ops.sum(keep_top_k(inputs, self.k), axis=-1, keepdims=True)

    with pytest.raises(AssertionError, match="^kept values equal the inputs"):
        check_top_k_layer(
            lambda: FlattensOutput(1), k=1, input_dim=3, max_examples=3
        )


def test_neural_sparse_coding_passes_check_dictionary_layer():
    check_dictionary_layer(
        lambda: NeuralSparseCoding(6, k=2, learning_rate=0.5),
        input_dim=4,
        units=6,
        k=2,
        max_examples=3,
    )


def test_a_dictionary_that_is_not_renormalised_fails():
    with pytest.raises(AssertionError, match="^unit-norm columns"):
        check_dictionary_layer(
            lambda: NeuralSparseCoding(6, k=2, normalize=False),
            input_dim=4,
            units=6,
            k=2,
            max_examples=3,
        )


def test_kl_sparsity_passes_check_sparsity_regularizer():
    for rho in (0.05, 0.3):
        check_sparsity_regularizer(
            lambda rho=rho: KLSparsityRegularizer(rho=rho), rho=rho, units=3
        )


def test_a_penalty_not_zero_at_rho_fails():
    with pytest.raises(AssertionError, match="^zero exactly at rho"):
        check_sparsity_regularizer(lambda: WeightDecay(1.0), rho=0.1)


def test_without_hypothesis_checks_say_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    monkeypatch.delitem(
        sys.modules, "sparsekeras.testing.strategies", raising=False
    )
    with pytest.raises(ImportError, match=r'"sparsekeras\[testing\]"'):
        check_top_k_layer(lambda: KSparse(1), k=1, input_dim=2)
    with pytest.raises(ImportError, match=r'"sparsekeras\[testing\]"'):
        importlib.import_module("sparsekeras.testing.strategies")
