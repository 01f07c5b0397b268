import numpy as np

from sparsekeras.studies import _lbfgs


def _quadratic(matrix, target):
    def objective(x):
        difference = x - target
        return 0.5 * difference @ matrix @ difference, matrix @ difference

    return objective


def test_finds_the_minimum_of_a_badly_conditioned_quadratic():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(20, 20)))[0]
    matrix = basis @ np.diag(np.logspace(-2, 2, 20)) @ basis.T
    target = rng.normal(size=20)
    x, iterations, gradient_max = _lbfgs.minimize(
        _quadratic(matrix, target),
        np.zeros(20),
        tolerance=1e-9,
        max_iterations=2000,
    )
    assert gradient_max <= 1e-9 and iterations < 2000
    np.testing.assert_allclose(matrix @ x, matrix @ target, atol=1e-8)


def test_minimises_the_rosenbrock_function():
    def rosenbrock(x):
        value = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        gradient = np.array(
            [
                -2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
                200 * (x[1] - x[0] ** 2),
            ]
        )
        return value, gradient

    x, _, gradient_max = _lbfgs.minimize(
        rosenbrock, np.array([-1.2, 1.0]), tolerance=1e-8, max_iterations=500
    )
    assert gradient_max <= 1e-8
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-6)


def test_stops_at_the_iteration_limit_and_says_so():
    matrix = np.diag(np.logspace(-3, 3, 50))
    _, iterations, gradient_max = _lbfgs.minimize(
        _quadratic(matrix, np.ones(50)),
        np.zeros(50),
        tolerance=1e-12,
        max_iterations=3,
    )
    assert iterations == 3 and gradient_max > 1e-12
