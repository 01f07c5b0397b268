"""The studies' `--data` argument: which MNIST it names, loaded once."""

import os

from sparsekeras.datasets import load_mnist
from sparsekeras.datasets.mnist import ENVIRONMENT_VARIABLE
from sparsekeras.studies._output import UserError


def load_mnist_argument(data):
    """The MNIST that a study's `--data` names, or a `UserError` saying why not.

    Args:
        data: `"embedded"` (the sample shipped in sparsekeras), `"full"`
            (the file named by `SPARSEKERAS_MNIST`, else Keras's MNIST:
            never the sample under the name "full"), or the path of an
            `.npz`.

    Returns:
        The `sparsekeras.datasets.MnistData`.
    """
    try:
        if data == "embedded":
            return load_mnist(source="embedded")
        if data == "full":
            from_file = os.environ.get(ENVIRONMENT_VARIABLE)
            return load_mnist(source="path" if from_file else "keras")
        return load_mnist(data, source="path")
    except Exception as error:
        raise UserError(_message(data, error)) from error


def _message(data, error):
    reason = " ".join(str(error).split()) or type(error).__name__
    if data == "full":
        return (
            f"--data full: could not load full MNIST ({reason}); without a "
            f"network, set {ENVIRONMENT_VARIABLE} or pass --data PATH.npz, "
            "or use --data embedded"
        )
    return f"--data {data!r}: could not load MNIST ({reason})"
