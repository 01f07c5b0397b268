import keras
import numpy as np
import pytest
from keras import ops

from sparsekeras.layers import JumpReLU
from sparsekeras.layers.jump_relu import heaviside, jump_relu

from helpers import check_keras_round_trip, run_layer_test

EPS = 0.1
THETA = np.array([0.5, 1.0, 0.2, 2.0], "float32")
# Offsets from θ in units of ε, none near the window's edges at ±1/2.
OFFSETS = np.array(
    [
        [-0.7, -0.3, 0.05, 0.2],
        [0.4, 0.8, -0.1, 3.0],
        [-4.0, 0.3, 0.45, -0.45],
    ],
    "float32",
)
X = THETA + EPS * OFFSETS
UPSTREAM = np.array(
    [[1.0, -2.0, 0.5, 3.0], [0.25, 1.5, -1.0, 2.0], [4.0, -0.5, 2.5, 1.0]],
    "float32",
)


def gradients(function, *arrays):
    """The gradients of the scalar `function(*arrays)` by the backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        argnums = tuple(range(len(arrays)))
        grads = jax.grad(function, argnums=argnums)(*arrays)
    elif backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in arrays]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = function(*tensors)
        grads = tape.gradient(value, tensors)
    else:
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        grads = torch.autograd.grad(function(*tensors), tensors)
    return [ops.convert_to_numpy(g) for g in grads]


def rectangle(u):
    return (np.abs(u) < 0.5).astype("float64")


def numpy_jump_relu_gradients(x, theta, eps, upstream):
    """The paper's pseudo-derivatives (its eq. 11), by log θ and by x."""
    kernel = rectangle((x - theta) / eps)
    d_theta = np.sum(-(theta / eps) * kernel * upstream, axis=0)
    return d_theta * theta, (x > theta) * upstream


def numpy_step_gradient(x, theta, eps, upstream):
    """The paper's pseudo-derivative of H(x - θ) by θ (its eq. 12)."""
    kernel = rectangle((x - theta) / eps)
    return np.sum(-(1.0 / eps) * kernel * upstream, axis=0)


def layer_with_threshold(theta, **kwargs):
    layer = JumpReLU(bandwidth=EPS, **kwargs)
    layer.build((None, len(theta)))
    layer.log_threshold.assign(np.log(theta))
    return layer


def test_layer_conventions(tmp_path):
    run_layer_test(
        JumpReLU,
        {"initial_threshold": 0.05, "bandwidth": 0.01},
        np.random.default_rng(0).normal(size=(4, 6)).astype("float32"),
        (4, 6),
        expected_num_trainable_weights=1,
        tmp_path=tmp_path,
    )


def test_keeps_each_value_above_its_own_threshold():
    x = np.array([[0.4, 1.2, 0.1, 2.5], [0.6, 0.9, 0.3, -3.0]], "float32")
    out = ops.convert_to_numpy(layer_with_threshold(THETA)(x))
    expected = np.array([[0.0, 1.2, 0.0, 2.5], [0.6, 0.0, 0.3, 0.0]])
    np.testing.assert_allclose(out, expected)


def test_value_at_its_threshold_is_zeroed_and_nan_passes():
    layer = layer_with_threshold(np.array([0.5, 0.5], "float32"))
    at_threshold = ops.convert_to_numpy(layer.threshold)[0]
    out = ops.convert_to_numpy(layer(np.array([[at_threshold, np.nan]])))
    assert out[0, 0] == 0.0
    assert np.isnan(out[0, 1])


def test_threshold_starts_at_initial_threshold_in_float32():
    layer = JumpReLU(initial_threshold=0.25, dtype="mixed_bfloat16")
    out = layer(np.ones((2, 3), "float32"))
    assert layer.log_threshold.dtype == "float32"
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer.threshold), [0.25] * 3, rtol=1e-6
    )


def test_gradients_are_the_papers_straight_through_estimators():
    def loss(x, log_theta):
        return ops.sum(
            ops.multiply(jump_relu(x, ops.exp(log_theta), EPS), UPSTREAM)
        )

    d_x, d_log_theta = gradients(loss, X, np.log(THETA))
    expected_log_theta, expected_x = numpy_jump_relu_gradients(
        X.astype("float64"), THETA.astype("float64"), EPS, UPSTREAM
    )
    np.testing.assert_allclose(d_log_theta, expected_log_theta, rtol=1e-5)
    np.testing.assert_allclose(d_x, expected_x, rtol=1e-6)
    assert np.count_nonzero(d_log_theta) == 4


def test_step_gradient_is_the_papers_estimator_and_none_reaches_x():
    def loss(x, theta):
        return ops.sum(ops.multiply(heaviside(x, theta, EPS), UPSTREAM))

    d_x, d_theta = gradients(loss, X, THETA)
    expected = numpy_step_gradient(
        X.astype("float64"), THETA.astype("float64"), EPS, UPSTREAM
    )
    np.testing.assert_allclose(d_theta, expected, rtol=1e-5)
    np.testing.assert_array_equal(d_x, np.zeros_like(X))


def test_l0_gradient_is_the_derivative_of_the_kernel_smoothed_step():
    # Smoothing H with the rectangle kernel gives clip((x - θ) / ε + 1/2,
    # 0, 1), whose derivative by θ the estimator is, away from the edges.
    def smoothed_l0(theta):
        ramp = np.clip((X - theta) / EPS + 0.5, 0.0, 1.0)
        return np.sum(UPSTREAM * ramp)

    theta = THETA.astype("float64")
    step = 1e-6
    finite_differences = np.array(
        [
            (smoothed_l0(theta + step * e) - smoothed_l0(theta - step * e))
            / (2 * step)
            for e in np.eye(len(theta))
        ]
    )

    def loss(x, theta):
        return ops.sum(ops.multiply(heaviside(x, theta, EPS), UPSTREAM))

    _, d_theta = gradients(loss, X, THETA)
    np.testing.assert_allclose(d_theta, finite_differences, rtol=1e-4)


def test_l0_counts_the_latents_above_threshold_per_row():
    counts = ops.convert_to_numpy(layer_with_threshold(THETA).l0(X))
    np.testing.assert_array_equal(counts, np.sum(X > THETA, axis=-1))


def test_tanh_l0_gradients_match_numpy():
    norms = np.array([1.0, 0.5, 2.0, 1.5], "float32")
    scale = 4.0

    def loss(x, log_theta):
        codes = jump_relu(x, ops.exp(log_theta), EPS)
        return ops.sum(ops.tanh(ops.multiply(codes, norms) * scale))

    d_x, d_log_theta = gradients(loss, X, np.log(THETA))
    x, theta = X.astype("float64"), THETA.astype("float64")
    codes = np.where(x > theta, x, 0.0)
    outer = (1 - np.tanh(scale * codes * norms) ** 2) * scale * norms
    expected_log_theta, expected_x = numpy_jump_relu_gradients(
        x, theta, EPS, outer
    )
    np.testing.assert_allclose(
        d_log_theta, expected_log_theta, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(d_x, expected_x, rtol=1e-5, atol=1e-7)
    layer = layer_with_threshold(THETA)
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer.tanh_l0(X, norms, scale)),
        np.sum(np.tanh(scale * codes * norms), axis=-1),
        rtol=1e-6,
    )


def test_one_sgd_step_moves_log_threshold_down_its_gradient():
    layer = layer_with_threshold(THETA)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layer(inputs))
    rows = len(X)
    model.compile(
        optimizer=keras.optimizers.SGD(1.0),
        loss=lambda _, z: ops.sum(ops.multiply(z, UPSTREAM), axis=-1),
    )
    model.fit(X, np.zeros_like(X), batch_size=rows, shuffle=False, verbose=0)
    gradient, _ = numpy_jump_relu_gradients(
        X.astype("float64"), THETA.astype("float64"), EPS, UPSTREAM / rows
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer.log_threshold),
        np.log(THETA) - gradient,
        rtol=1e-5,
    )


def test_save_and_load_keep_the_learned_thresholds(tmp_path):
    layer = layer_with_threshold(THETA)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layer(inputs))
    loaded = check_keras_round_trip(model, X, str(tmp_path / "jump.keras"))
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded.layers[-1].threshold), THETA, rtol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"initial_threshold": 0.0}, ValueError),
        ({"initial_threshold": -1.0}, ValueError),
        ({"initial_threshold": float("nan")}, ValueError),
        ({"bandwidth": 0.0}, ValueError),
        ({"bandwidth": float("inf")}, ValueError),
        ({"bandwidth": "0.1"}, TypeError),
        ({"dtype": "int32"}, TypeError),
    ],
)
def test_bad_arguments_are_refused(kwargs, error):
    name = next(iter(kwargs))
    with pytest.raises(error, match=name):
        JumpReLU(**kwargs)


def test_input_without_a_latent_axis_is_refused():
    with pytest.raises(ValueError, match="rank >= 2"):
        JumpReLU()(np.ones((3,), "float32"))


def test_bad_tanh_scale_is_refused():
    with pytest.raises(ValueError, match="scale"):
        JumpReLU().tanh_l0(np.ones((1, 2), "float32"), scale=0.0)
