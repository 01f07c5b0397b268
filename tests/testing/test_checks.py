"""The checkers pass correct components and name what a broken one breaks."""

import importlib
import re
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


class IdentityAtInference(TopK):
    def call(self, inputs, training=None):
        return keep_top_k(inputs, self.k) if training else inputs


class BlocksGradient(TopK):
    def call(self, inputs, training=None):
        return ops.stop_gradient(keep_top_k(inputs, self.k))


class ReLUTopK(TopK):
    """ReLU then the top k, the activation of a sparse autoencoder."""

    def call(self, inputs, training=None):
        return keep_top_k(ops.relu(inputs), self.k)


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
        (BlocksGradient, "gradient through the kept entries only"),
        (ForgetsK, "get_config round trip"),
        (
            IdentityAtInference,
            "(exactly k per row|keeps the k largest) \\(inference\\)",
        ),
    ],
)
def test_a_broken_top_k_layer_fails_naming_the_invariant(
    layer_class, invariant
):
    with pytest.raises(AssertionError, match=f"^{invariant}") as info:
        check_top_k_layer(
            lambda: layer_class(2), k=2, input_dim=5, max_examples=5
        )
    assert "input" in str(info.value)
    assert "No gradients provided" not in str(info.value)


def test_relu_then_top_k_passes_with_its_activation():
    check_top_k_layer(
        lambda: ReLUTopK(2),
        k=2,
        input_dim=5,
        activation="relu",
        max_examples=5,
    )


def test_relu_then_top_k_fails_as_a_plain_top_k():
    with pytest.raises(AssertionError, match="^exactly k per row"):
        check_top_k_layer(lambda: ReLUTopK(2), k=2, input_dim=5, max_examples=5)


def test_ksparse_alpha_passes_with_its_inference_k():
    check_top_k_layer(
        lambda: KSparse(2, alpha=1.5),
        k=2,
        inference_k=3,
        input_dim=5,
        max_examples=3,
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"k": 0}, ValueError, "k"),
        ({"k": 6}, ValueError, "k"),
        ({"k": 2.0}, TypeError, "k"),
        ({"input_dim": 0}, ValueError, "input_dim"),
        ({"inference_k": 7}, ValueError, "inference_k"),
        ({"max_examples": 0}, ValueError, "max_examples"),
        ({"custom_objects": [TopK]}, TypeError, "custom_objects"),
        ({"check_nonfinite": "yes"}, TypeError, "check_nonfinite"),
        ({"activation": "no_such_activation"}, ValueError, "activation"),
        ({"layer_factory": TopK(2)}, TypeError, "layer_factory"),
    ],
)
def test_check_top_k_layer_validates_its_arguments(kwargs, error, match):
    arguments = {"layer_factory": lambda: TopK(2), "k": 2, "input_dim": 5}
    with pytest.raises(error, match=f"Invalid .*`{match}`"):
        check_top_k_layer(**{**arguments, **kwargs})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 7}, "k"),
        ({"units": 0}, "units"),
        ({"input_dim": -1}, "input_dim"),
    ],
)
def test_check_dictionary_layer_validates_its_arguments(kwargs, match):
    arguments = {"input_dim": 4, "units": 6, "k": 2}
    with pytest.raises(ValueError, match=f"Invalid .*`{match}`"):
        check_dictionary_layer(
            lambda: NeuralSparseCoding(6, k=2), **{**arguments, **kwargs}
        )


class ChangesDictionaryAtInference(NeuralSparseCoding):
    def call(self, inputs, training=None, mask=None):
        return super().call(inputs, training=True, mask=mask)


def test_a_dictionary_layer_that_learns_at_inference_fails():
    with pytest.raises(
        AssertionError, match="^inference leaves the dictionary unchanged"
    ):
        check_dictionary_layer(
            lambda: ChangesDictionaryAtInference(6, k=2),
            input_dim=4,
            units=6,
            k=2,
            max_examples=2,
        )


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
    with pytest.raises(AssertionError, match="^zero at rho"):
        check_sparsity_regularizer(lambda: WeightDecay(1.0), rho=0.1)


class SquaredMeanGap(keras.regularizers.Regularizer):
    """A correct penalty, sum((mean - rho)^2), a few ulps off 0 at rho."""

    def __init__(self, rho):
        self.rho = rho

    def __call__(self, x):
        gap = ops.mean(ops.cast(x, "float32"), axis=0) - self.rho
        return ops.sum(gap * gap) + 2.2e-16

    def get_config(self):
        return {"rho": self.rho}


def test_a_penalty_within_round_off_of_zero_at_rho_passes():
    check_sparsity_regularizer(lambda: SquaredMeanGap(0.1), rho=0.1)


def test_the_tolerance_at_rho_is_the_callers():
    with pytest.raises(AssertionError, match="^zero at rho"):
        check_sparsity_regularizer(lambda: SquaredMeanGap(0.1), rho=0.1, atol=0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"rho": 1.0}, ValueError, "rho"),
        ({"rho": "0.1"}, TypeError, "rho"),
        ({"units": 0}, ValueError, "units"),
        ({"atol": -1.0}, ValueError, "atol"),
        ({"regularizer_factory": None}, TypeError, "regularizer_factory"),
    ],
)
def test_check_sparsity_regularizer_validates_its_arguments(
    kwargs, error, match
):
    arguments = {
        "regularizer_factory": lambda: KLSparsityRegularizer(rho=0.1),
        "rho": 0.1,
    }
    with pytest.raises(error, match=f"Invalid .*`{match}`"):
        check_sparsity_regularizer(**{**arguments, **kwargs})


def test_without_hypothesis_checks_say_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    monkeypatch.delitem(
        sys.modules, "sparsekeras.testing.strategies", raising=False
    )
    with pytest.raises(ImportError, match=r'"sparsekeras\[testing\]"'):
        check_top_k_layer(lambda: KSparse(1), k=1, input_dim=2)
    with pytest.raises(ImportError, match=r'"sparsekeras\[testing\]"'):
        importlib.import_module("sparsekeras.testing.strategies")


class FailsOnEmptyBatches(TopK):
    def call(self, inputs, training=None):
        if inputs.shape[0] == 0:
            raise RuntimeError("no rows")
        return keep_top_k(inputs, self.k)


def test_an_error_the_layer_raises_names_the_invariant_mode_and_input():
    with pytest.raises(AssertionError) as info:
        check_top_k_layer(
            lambda: FailsOnEmptyBatches(2), k=2, input_dim=5, max_examples=5
        )
    message = str(info.value)
    assert re.match(r"^keeps the k largest \((training|inference)\): ", message)
    assert "raised RuntimeError" in message and "no rows" in message
    assert "input: []" in message
