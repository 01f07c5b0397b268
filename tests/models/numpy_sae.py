"""NumPy transcriptions (float64) of the SparseAutoencoder family's losses.

Written from the papers, not from the model's code: Gao et al.'s FVU and
AuxK, Bussmann et al.'s BatchTopK and Matryoshka prefixes, Rajamanoharan
et al.'s JumpReLU with its L0 penalty, Anthropic's tanh penalty and
Gemma Scope 2's quadratic penalty around a target L0.
"""

import numpy as np
from keras import ops

NAMES = ("pre_encoder_bias", "encoder_bias", "encoder_kernel", "decoder_kernel")


def weights(sae, **replaced):
    """The model's weights as float64 arrays, some `replaced` by name."""
    names = NAMES
    if sae.activation == "jumprelu":
        names = (*NAMES, "log_threshold")
    values = {}
    for name in names:
        layer = sae.selection if name == "log_threshold" else sae
        values[name] = ops.convert_to_numpy(getattr(layer, name))
        values[name] = values[name].astype("float64")
    values.update(replaced)
    return values


def pre_activations(w, x):
    return (x - w["pre_encoder_bias"]) @ w["encoder_kernel"] + w["encoder_bias"]


def batch_top_k(values, k):
    """The k * rows largest of the batch (ties in row-major order)."""
    flat = values.ravel()
    kept = np.zeros_like(flat)
    top = np.argsort(-flat, kind="stable")[: k * values.shape[0]]
    kept[top] = flat[top]
    return kept.reshape(values.shape)


def top_k(values, k):
    """The k largest of each row (ties: lower index first)."""
    kept = np.zeros_like(values)
    for row, entries in enumerate(values):
        top = np.argsort(-entries, kind="stable")[:k]
        kept[row, top] = entries[top]
    return kept


def codes(sae, w, pre):
    if sae.activation == "jumprelu":
        return pre * (pre > np.exp(w["log_threshold"]))
    select = batch_top_k if sae.activation == "batch_topk" else top_k
    return select(np.maximum(pre, 0), sae.k)


def squared_error(x, prediction):
    return np.mean(np.sum((x - prediction) ** 2, axis=-1))


def variance(x):
    return np.mean(np.sum((x - x.mean(0)) ** 2, axis=-1))


def reconstruction_loss(sae, w, x, z):
    """Σ over the prefixes (one, without groups) of the squared error,
    over the batch's variance."""
    groups = sae.matryoshka_groups or [sae.units]
    error = 0.0
    for width in np.cumsum(groups):
        x_hat = z[:, :width] @ w["decoder_kernel"][:width]
        error += squared_error(x, x_hat + w["pre_encoder_bias"])
    return error / variance(x)


def auxk(sae, w, pre, dead, residual):
    """Gao et al.'s AuxK: the top `aux_k` dead latents explain `residual`."""
    if not np.any(dead):
        return 0.0
    dead_pre = np.where(dead, pre, -np.inf)
    z_aux = np.maximum(top_k(dead_pre, sae._aux_k), 0)
    e_hat = z_aux @ w["decoder_kernel"]
    return squared_error(residual, e_hat) / variance(residual)


def sparsity_penalty(sae, w, pre, coefficient):
    """λ_t times the batch mean of JumpReLU's L0 or tanh penalty."""
    theta = np.exp(w["log_threshold"])
    if sae.sparsity_penalty == "l0":
        per_row = np.sum(pre > theta, axis=-1)
    elif sae.sparsity_penalty == "quadratic":
        # On the batch's mean L0: one value, its own mean.
        target = sae.target_l0
        per_row = 2 / target * (_mean_l0(pre, theta) - target) ** 2
    else:
        norms = np.linalg.norm(w["decoder_kernel"], axis=-1)
        per_row = np.sum(np.tanh(4.0 * pre * (pre > theta) * norms), axis=-1)
    return coefficient * np.mean(per_row)


def loss(sae, x, dead, residual=None, coefficient=None, **replaced):
    """The training loss; AuxK's `residual` is fixed when given."""
    w = weights(sae, **replaced)
    x = x.astype("float64")
    pre = pre_activations(w, x)
    z = codes(sae, w, pre)
    total = reconstruction_loss(sae, w, x, z)
    if sae.aux_coefficient > 0 and sae._aux_k > 0:
        if residual is None:
            residual = x - (z @ w["decoder_kernel"] + w["pre_encoder_bias"])
        total += sae.aux_coefficient * auxk(sae, w, pre, dead, residual)
    if sae.activation == "jumprelu":
        total += sparsity_penalty(sae, w, pre, coefficient)
    return total


def _mean_l0(pre, theta):
    """The batch's mean count of pre-activations above threshold."""
    return np.mean(np.sum(pre > theta, axis=-1))


def log_threshold_gradient(sae, x, coefficient):
    """The paper's straight-through gradient of the loss for log θ.

    With the rectangle kernel `K(u) = 1 if |u| < 1/2 else 0` and bandwidth
    ε: `ð z / ð θ = -(θ / ε) K((pre - θ) / ε)` carries the reconstruction
    (and tanh) terms' gradient `ð loss / ð z`, and `ð H / ð θ = -(1 / ε)
    K(...)` the L0 penalty's; `θ = exp(log θ)` multiplies both by θ. No
    dead latent (AuxK does not reach θ anyway: its residual is fixed).
    """
    w = weights(sae)
    x = x.astype("float64")
    pre = pre_activations(w, x)
    z = codes(sae, w, pre)
    theta, epsilon = np.exp(w["log_threshold"]), sae.bandwidth
    rows = x.shape[0]
    decoder = w["decoder_kernel"]
    d_codes = np.zeros_like(z)
    for width in np.cumsum(sae.matryoshka_groups or [sae.units]):
        error = x - (z[:, :width] @ decoder[:width] + w["pre_encoder_bias"])
        d_codes[:, :width] -= 2 * error @ decoder[:width].T
    d_codes /= rows * variance(x)
    window = np.abs((pre - theta) / epsilon) < 0.5
    if sae.sparsity_penalty == "tanh":
        norms = np.linalg.norm(decoder, axis=-1)
        slope = 4.0 * norms * (1 - np.tanh(4.0 * z * norms) ** 2)
        d_codes += coefficient * slope / rows
    d_theta = np.sum(d_codes * -(theta / epsilon) * window, axis=0)
    if sae.sparsity_penalty != "tanh":
        # ð penalty / ð L0 of each row, times the row count: 1 for "l0",
        # (4 / L0*)(mean L0 - L0*) for "quadratic".
        d_l0 = 1.0
        if sae.sparsity_penalty == "quadratic":
            d_l0 = 4 / sae.target_l0 * (_mean_l0(pre, theta) - sae.target_l0)
        d_penalty = -(d_l0 / epsilon) * window
        d_theta += coefficient * np.sum(d_penalty, axis=0) / rows
    return theta * d_theta


def numerical_gradient(function, value, step=1e-6):
    """Central differences of `function` at `value`, entry by entry."""
    gradient = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        shifted = [value.copy(), value.copy()]
        shifted[0][index] += step
        shifted[1][index] -= step
        gradient[index] = (function(shifted[0]) - function(shifted[1])) / (
            2 * step
        )
    return gradient
