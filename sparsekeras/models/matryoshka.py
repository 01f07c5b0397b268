"""Group sizes of Matryoshka dictionaries: nested prefixes of the latents."""

import numbers

from sparsekeras._validation import check_int


def matryoshka_group_sizes(units, levels=5):
    """The group sizes of Bussmann et al.'s prefixes, which double in width.

    The prefixes are `units // 2**(levels - 1), ..., units // 2, units`
    latents wide, and the groups are their differences: for `units=4096`
    and the paper's 5 levels, `[256, 256, 512, 1024, 2048]` (the
    `[d/16, d/16, d/8, d/4, d/2]` of the paper's code). Pass them to
    `SparseAutoencoder(matryoshka_groups=...)`.

    Args:
        units: positive integer, the number of latents.
        levels: positive integer, defaults to `5` (the paper's): the
            number of prefixes, the whole dictionary included. `units`
            must be at least `2**(levels - 1)`, so that every group has a
            latent.

    Returns:
        list of `levels` positive integers summing to `units`.

    Example:

    >>> from sparsekeras.models import matryoshka_group_sizes
    >>> matryoshka_group_sizes(4096)
    [256, 256, 512, 1024, 2048]

    Reference:
        - [Bussmann et al., 2025. Learning Multi-Level Features with
          Matryoshka Sparse Autoencoders](https://arxiv.org/abs/2503.17547)
    """
    units = check_int("units", units, minimum=1)
    levels = check_int("levels", levels, minimum=1, maximum=30)
    if units < 2 ** (levels - 1):
        raise ValueError(
            f"Invalid value for `units`, expected at least 2**(levels - 1) "
            f"= {2 ** (levels - 1)} latents, so that each of the {levels} "
            f"groups has one. Received: units={units!r}"
        )
    widths = [units // 2 ** (levels - 1 - level) for level in range(levels)]
    return [b - a for a, b in zip([0] + widths[:-1], widths, strict=True)]


def check_matryoshka_groups(groups, units):
    """`groups` as a list of positive integers summing to `units`, or None."""
    if groups is None:
        return None
    if isinstance(groups, (str, bytes)) or not isinstance(
        groups, (list, tuple)
    ):
        raise TypeError(
            "Invalid type for `matryoshka_groups`, expected None or a list "
            "of group sizes (positive integers summing to `units`). "
            f"Received: matryoshka_groups={groups!r} of type "
            f"{type(groups).__name__}"
        )
    if not groups or any(
        isinstance(size, bool)
        or not isinstance(size, numbers.Integral)
        or size < 1
        for size in groups
    ):
        raise ValueError(
            "Invalid value for `matryoshka_groups`, expected a non-empty "
            "list of positive integers (the sizes of the nested groups). "
            f"Received: matryoshka_groups={groups!r}"
        )
    groups = [int(size) for size in groups]
    if sum(groups) != units:
        raise ValueError(
            "Invalid value for `matryoshka_groups`, expected group sizes "
            f"summing to `units` ({units}); `matryoshka_group_sizes(units)` "
            f"gives the paper's. Received: matryoshka_groups={groups!r}, "
            f"which sums to {sum(groups)}"
        )
    return groups
