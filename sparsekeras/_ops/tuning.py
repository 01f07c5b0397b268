"""Backend tuning of the top-k: every measured constant, in one place.

Nothing here changes a result, only its cost: each constant picks between
two exact ways of computing the same top-k, at an edge measured on CPUs
(the figures and commands are on the "Finished investigations" docs page,
with the GPU script that has not yet run). Re-measure before changing one.

- `CHUNK` and `CUT_OVER`: when `top_k.top_k` takes the chunk method (the
  top k of the chunks' maxima, then of those chunks' entries) instead of
  the backend's own `top_k`.
- `TORCH_PARTIAL_SORT_RATIO`: the edge of PyTorch's CPU `topk`, where
  `selection.top_k_mask` asks for `k_max` entries and counts instead of
  asking for `k_max + 1`.
"""

import keras

CHUNK = 32
"""Entries per chunk of the chunk method."""

CUT_OVER = {"jax": (2048, 7), "tensorflow": (8192, 16), "torch": (16384, 24)}
"""Per backend, `(min_size, min_chunks_per_k)`: the chunk method runs on
rows of at least `min_size` entries with at least `min_chunks_per_k`
chunks per k, and the backend's own `top_k` on the others. A backend not
listed takes JAX's. Measured on a CPU (see the investigations page)."""

TORCH_PARTIAL_SORT_RATIO = 64
"""PyTorch's CPU `topk` partially sorts a row of `n` entries for the top
`k` while `TORCH_PARTIAL_SORT_RATIO * k <= n`, and switches to a slower
selection above."""


def chunk_method_pays(size, k):
    """Whether `top_k.top_k` takes the chunk method for `k` of `size`."""
    min_size, min_chunks_per_k = CUT_OVER.get(
        keras.backend.backend(), CUT_OVER["jax"]
    )
    return (
        isinstance(size, int)
        and isinstance(k, int)
        and size >= min_size
        and -(-size // CHUNK) >= min_chunks_per_k * k
    )


def at_torch_partial_sort_edge(k_max, size):
    """Whether PyTorch's CPU `topk` would slow down at `k_max + 1`.

    At the one `k_max` with `RATIO * k_max <= size < RATIO * (k_max + 1)`
    the extra entry the selection asks for would cross the partial-sort
    edge (`TORCH_PARTIAL_SORT_RATIO`).
    """
    ratio = TORCH_PARTIAL_SORT_RATIO
    return (
        keras.backend.backend() == "torch"
        and isinstance(k_max, int)
        and isinstance(size, int)
        and ratio * k_max <= size < ratio * (k_max + 1)
    )


def cond_where_known(pred, true_fn, false_fn):
    """`ops.cond`, with the branch taken in Python where `pred` is known.

    Only on JAX, outside a trace: there `ops.cond` is `jax.lax.cond`,
    whose fresh branch closures miss JAX's cache, so every eager call
    traces both branches and compiles them (about 0.3 s for a KSparse on
    a CPU). Under `jit` (as in `fit`) `pred` is a tracer, whose `bool`
    raises a `TypeError`, and the real `ops.cond` is used; on the other
    backends, always. The result is the same either way.
    """
    if keras.backend.backend() == "jax":
        try:
            taken = bool(pred)
        except TypeError:
            return keras.ops.cond(pred, true_fn, false_fn)
        return true_fn() if taken else false_fn()
    return keras.ops.cond(pred, true_fn, false_fn)
