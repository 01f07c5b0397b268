"""The five cases of the comparison: each one's key, letter and title.

The only place they are written: the builders, the report and the command
line look them up here.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class CaseName:
    """How one case is named.

    Attributes:
        key: its name on the command line and in file names, e.g.
            `"k_sparse"`.
        letter: its letter in the original comparison, `"a"` to `"e"`.
        title: a human-readable title.
    """

    key: str
    letter: str
    title: str


CASES = (
    CaseName("plain", "a", "Plain autoencoder"),
    CaseName("weight_decay", "b", "Autoencoder with weight decay"),
    CaseName("kl_sparse", "c", "KL sparse autoencoder (Ng)"),
    CaseName("neural_sparse_coding", "d", "Neural sparse coding"),
    CaseName("k_sparse", "e", "k-sparse autoencoder"),
)
KEYS = tuple(case.key for case in CASES)
LETTERS = "".join(case.letter for case in CASES)


def lookup(name):
    """The `CaseName` whose key or letter is `name`.

    Args:
        name: a key such as `"k_sparse"` or a letter such as `"e"`.

    Returns:
        A `CaseName`.

    Example:

    >>> lookup("e").key
    'k_sparse'
    """
    for case in CASES:
        if name in (case.key, case.letter):
            return case
    allowed = ", ".join(f"{case.letter}={case.key}" for case in CASES)
    raise ValueError(
        f"Invalid value for `case`, expected one of {allowed}. "
        f"Received: case={name!r}"
    )
