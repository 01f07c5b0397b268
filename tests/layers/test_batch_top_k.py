import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops

from sparsekeras.layers import BatchTopK

from helpers import check_keras_round_trip, run_layer_test


def _train(layer, x):
    return ops.convert_to_numpy(layer(x, training=True))


def _reference_mask(x, k):
    """The k * rows largest of the batch, ties in row-major order."""
    flat = np.where(np.isnan(x), np.inf, x).ravel()
    # A stable sort of the negated values puts lower flat indices first.
    order = np.argsort(-flat, kind="stable")
    mask = np.zeros(flat.shape, bool)
    mask[order[: k * (x.size // x.shape[-1])]] = True
    return mask.reshape(x.shape)


@st.composite
def batches_and_k(draw):
    rows = draw(st.integers(1, 3))
    size = draw(st.integers(1, 4))
    x = draw(hnp.arrays("int32", (rows, size), elements=st.integers(-3, 3)))
    return x.astype("float32"), draw(st.integers(1, size))


def test_layer_conventions(tmp_path):
    run_layer_test(
        BatchTopK,
        {"k": 2, "momentum": 0.9},
        np.random.default_rng(0).normal(size=(4, 6)).astype("float32"),
        (4, 6),
        expected_num_non_trainable_weights=2,
        tmp_path=tmp_path,
    )


# Few examples: every new shape compiles anew on JAX.
@settings(max_examples=12, deadline=None)
@given(batches_and_k())
def test_keeps_exactly_k_times_rows_ties_in_row_major_order(case):
    x, k = case
    layer = BatchTopK(k)
    out = _train(layer, x)
    expected = np.where(_reference_mask(x, k), x, 0)
    np.testing.assert_array_equal(out, expected)


def test_a_row_may_keep_more_than_k():
    x = np.array([[9.0, 8.0, 7.0], [0.1, 0.2, 0.3]], "float32")
    out = _train(BatchTopK(1), x)
    np.testing.assert_array_equal(out, [[9.0, 8.0, 0.0], [0.0, 0.0, 0.0]])


def test_counts_every_leading_axis_as_rows():
    x = np.arange(24, dtype="float32").reshape(2, 3, 4)
    out = _train(BatchTopK(1), x)
    assert np.count_nonzero(out) == 6
    np.testing.assert_array_equal(out.ravel()[-6:], np.arange(18, 24))


def test_threshold_is_the_mean_then_moving_average_of_smallest_kept():
    layer = BatchTopK(1, momentum=0.5)
    batches = [
        np.array([[4.0, 1.0], [2.0, 0.0]], "float32"),  # smallest kept 2
        np.array([[6.0, 5.0], [1.0, 0.0]], "float32"),  # smallest kept 5
        np.array([[3.0, 0.0], [0.0, 1.0]], "float32"),  # smallest kept 1
    ]
    expected = [2.0, 3.5, 2.25]  # rate max(1/t, 0.5): 1, 1/2, 1/2
    for x, theta in zip(batches, expected, strict=True):
        _train(layer, x)
        assert float(ops.convert_to_numpy(layer.threshold)) == theta
    assert int(ops.convert_to_numpy(layer.step)) == 3


def test_inference_keeps_exactly_the_entries_above_threshold():
    layer = BatchTopK(2)
    layer.build((None, 4))
    layer.threshold.assign(0.5)
    x = np.array([[0.5, 0.6, -1.0, np.nan], [2.0, 0.4, 0.51, 0.0]], "float32")
    out = ops.convert_to_numpy(layer(x))
    expected = np.where(x > 0.5, x, 0) + np.where(np.isnan(x), np.nan, 0)
    np.testing.assert_array_equal(out, expected)
    assert float(ops.convert_to_numpy(layer.threshold)) == 0.5


def test_nan_ranks_above_every_number_and_leaves_threshold_finite():
    layer = BatchTopK(1)
    x = np.array([[np.nan, 1.0], [3.0, 2.0]], "float32")
    out = _train(layer, x)
    assert np.isnan(out[0, 0]) and out[1, 0] == 3.0
    assert np.count_nonzero(out) == 2
    assert float(ops.convert_to_numpy(layer.threshold)) == 3.0


def test_a_batch_of_only_nan_leaves_threshold_alone():
    layer = BatchTopK(1)
    _train(layer, np.full((2, 2), np.nan, "float32"))
    assert float(ops.convert_to_numpy(layer.threshold)) == 0.0
    assert int(ops.convert_to_numpy(layer.step)) == 0


def test_gradient_flows_through_kept_entries_only():
    x = np.array([[3.0, 1.0], [2.0, 0.5]], "float32")
    inputs = keras.Input((2,))
    dense = keras.layers.Dense(2, use_bias=False, kernel_initializer="identity")
    model = keras.Model(inputs, BatchTopK(1)(dense(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mae")
    model.fit(x, np.full((2, 2), -1.0, "float32"), epochs=1, verbose=0)
    kernel = ops.convert_to_numpy(dense.kernel)
    # Column 0 of each row is kept: only the kernel's column 0 moves.
    np.testing.assert_array_equal(kernel[:, 1], [0.0, 1.0])
    assert not np.array_equal(kernel[:, 0], [1.0, 0.0])


def test_integer_inputs_are_cast_to_compute_dtype():
    out = BatchTopK(1)(np.array([[1, 3], [2, 0]]), training=True)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_empty_batch_gives_empty_output():
    out = _train(BatchTopK(1), np.zeros((0, 3), "float32"))
    assert out.shape == (0, 3)


def test_save_and_load_restore_the_threshold(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, BatchTopK(2)(inputs))
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model.layers[-1](x, training=True)
    loaded = check_keras_round_trip(model, x, str(tmp_path / "m.keras"))
    assert float(ops.convert_to_numpy(loaded.layers[-1].threshold)) == float(
        ops.convert_to_numpy(model.layers[-1].threshold)
    )


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"k": 0}, ValueError),
        ({"k": 1.5}, TypeError),
        ({"k": 2, "momentum": 1.0}, ValueError),
        ({"k": 2, "momentum": -0.1}, ValueError),
        # Rounds to 1.0 in float32, where θ's moving average is computed.
        ({"k": 2, "momentum": 1 - 1e-10}, ValueError),
    ],
)
def test_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error, match="Invalid"):
        BatchTopK(**kwargs)


@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_rejects_bad_input_shapes(shape):
    layer = BatchTopK(4)
    with pytest.raises(ValueError, match="Invalid"):
        layer.build(shape)


# Three steps of 4 units and two padded steps of large values, masked.
PADDED = np.array(
    [
        [
            [0.1, 0.9, 0.4, 0.7],
            [0.5, 0.3, 0.2, 0.0],
            [0.6, 0.8, 0.05, 0.2],
            [9.0, 9.0, 9.0, 9.0],
            [9.0, 9.0, 9.0, 9.0],
        ]
    ],
    "float32",
)
STEPS = np.array([[True, True, True, False, False]])


def _masked_model(layer, training):
    # Masking zeroes the padded steps as it masks them.
    inputs = keras.Input((5, 4))
    masked = keras.layers.Masking(mask_value=9.0)(inputs)
    return keras.Model(inputs, layer(masked, training=training))


def test_masked_rows_take_no_budget_and_output_zeros():
    layer = BatchTopK(2)
    out = ops.convert_to_numpy(_masked_model(layer, True)(PADDED))
    # 2 per unmasked row: the 6 largest of the three real steps.
    expected = np.where(_reference_mask(PADDED[0, :3], 2), PADDED[0, :3], 0)
    np.testing.assert_array_equal(out[0, :3], expected)
    np.testing.assert_array_equal(out[0, 3:], 0.0)


def test_masked_rows_do_not_move_the_threshold():
    masked, unpadded = BatchTopK(2), BatchTopK(2)
    masked(PADDED, training=True, mask=STEPS)
    unpadded(PADDED[:, :3], training=True)
    theta = float(ops.convert_to_numpy(masked.threshold))
    assert theta == float(ops.convert_to_numpy(unpadded.threshold))
    assert theta == pytest.approx(0.4)


def test_a_fully_masked_batch_keeps_nothing_and_leaves_threshold_alone():
    layer = BatchTopK(1)
    out = layer(PADDED, training=True, mask=np.zeros((1, 5), bool))
    np.testing.assert_array_equal(ops.convert_to_numpy(out), 0.0)
    assert float(ops.convert_to_numpy(layer.threshold)) == 0.0
    assert int(ops.convert_to_numpy(layer.step)) == 0


def test_inference_zeroes_masked_rows():
    out = ops.convert_to_numpy(BatchTopK(1)(PADDED, mask=STEPS))
    np.testing.assert_array_equal(out[0, :3], np.maximum(PADDED[0, :3], 0))
    np.testing.assert_array_equal(out[0, 3:], 0.0)


def test_passes_the_mask_on_to_the_next_layer():
    inputs = keras.Input((5, 4))
    masked = keras.layers.Masking(mask_value=9.0)(inputs)
    pooled = keras.layers.GlobalAveragePooling1D()(BatchTopK(4)(masked))
    out = ops.convert_to_numpy(keras.Model(inputs, pooled)(PADDED))
    # Mean over the three unmasked steps only (θ is 0 at first).
    np.testing.assert_allclose(out[0], PADDED[0, :3].mean(axis=0), rtol=1e-6)


def test_rejects_a_mask_not_of_one_boolean_per_row():
    with pytest.raises(ValueError, match="one boolean per row"):
        BatchTopK(1)(PADDED, training=True, mask=np.ones((1, 5, 4), bool))
