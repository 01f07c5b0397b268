"""Limited-memory BFGS in float64 NumPy, for the smooth convex fits of
`sparsekeras.studies.instruments` (no SciPy, no backend: the same result
everywhere).

Nocedal & Wright, Numerical Optimization (2006), algorithm 7.4 (the
two-loop recursion) with a backtracking line search on the Armijo
condition. On a strictly convex objective every step has `y . s > 0`, so
the curvature pairs are always kept.
"""

import numpy as np

ARMIJO = 1e-4
SMALLEST_STEP = 1e-12


def minimize(objective, start, *, tolerance, max_iterations, memory=10):
    """Minimises `objective` from `start` until `max|gradient| <= tolerance`.

    Args:
        objective: a function of a float64 vector returning
            `(value, gradient)`.
        start: the float64 vector to start from.
        tolerance: the largest absolute gradient entry accepted as
            converged.
        max_iterations: the most iterations to run.
        memory: curvature pairs kept, default 10.

    Returns:
        `(x, iterations, gradient_max)`: the minimiser found, the iterations
        taken and the largest absolute gradient entry at `x`.
    """
    x = np.array(start, dtype=np.float64)
    value, gradient = objective(x)
    steps, changes = [], []
    iterations = 0
    while np.max(np.abs(gradient)) > tolerance and iterations < max_iterations:
        direction = -_inverse_hessian_times(gradient, steps, changes)
        slope = gradient @ direction
        rate = 1.0
        while True:
            candidate = x + rate * direction
            new_value, new_gradient = objective(candidate)
            if new_value <= value + ARMIJO * rate * slope:
                break
            rate /= 2.0
            if rate < SMALLEST_STEP:
                return x, iterations, float(np.max(np.abs(gradient)))
        step, change = candidate - x, new_gradient - gradient
        if change @ step > 0:
            steps.append(step)
            changes.append(change)
            if len(steps) > memory:
                steps.pop(0)
                changes.pop(0)
        x, value, gradient = candidate, new_value, new_gradient
        iterations += 1
    return x, iterations, float(np.max(np.abs(gradient)))


def _inverse_hessian_times(gradient, steps, changes):
    """The two-loop recursion: the L-BFGS estimate of `H^-1 @ gradient`."""
    q = gradient.copy()
    alphas = []
    for step, change in zip(reversed(steps), reversed(changes), strict=True):
        alpha = (step @ q) / (change @ step)
        alphas.append(alpha)
        q -= alpha * change
    if steps:
        q *= (steps[-1] @ changes[-1]) / (changes[-1] @ changes[-1])
    else:
        q /= max(np.linalg.norm(gradient), 1.0)
    for step, change, alpha in zip(
        steps, changes, reversed(alphas), strict=True
    ):
        beta = (change @ q) / (change @ step)
        q += (alpha - beta) * step
    return q
