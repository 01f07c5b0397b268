"""MNIST handwritten digits, from a file, from Keras, or from a built-in sample.

`load_mnist()` returns the arrays of `keras.datasets.mnist.load_data()` and
says where they came from. Offline, where Keras cannot download MNIST, it
falls back to a sample of real MNIST images shipped inside sparsekeras, so
examples and tests run anywhere.

The embedded sample (`mnist_sample.npz`, about 1.8 MB) holds 900 training
images of each digit drawn from MNIST's training set and 200 test images of
each digit drawn from its test set. MNIST is by Yann LeCun, Corinna Cortes
and Christopher J.C. Burges, and is distributed under the Creative Commons
Attribution-Share Alike 3.0 license; the sample is shipped under the same
license, see `MNIST_LICENSE.md` beside this module.
"""

import logging
import os
import urllib.request
from importlib import resources

import keras

from sparsekeras._validation import check_bool, check_choice
from sparsekeras.datasets import _npz

logger = logging.getLogger(__name__)

ENVIRONMENT_VARIABLE = "SPARSEKERAS_MNIST"
SOURCES = ("auto", "path", "keras", "embedded")
EMBEDDED_SAMPLE = "mnist_sample.npz"
# Where `keras.datasets.mnist.load_data()` downloads from.
KERAS_ORIGIN = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
)
# Keras downloads with no timeout: where packets are dropped rather than
# refused, it would wait minutes. The quiet check before it gives up sooner.
REACH_TIMEOUT_S = 10.0


class MnistData(tuple):
    """MNIST arrays that unpack like `keras.datasets.mnist.load_data()`'s.

    A tuple `((x_train, y_train), (x_test, y_test))` that also records where
    the arrays were read from.

    Attributes:
        source: `"path"` (a file given as `path=` or through the environment
            variable `SPARSEKERAS_MNIST`), `"keras"` (Keras's MNIST: its
            cache or its download) or `"embedded"` (the sample shipped with
            sparsekeras).
        path: the file the arrays were read from, as a string.
        description: one line saying what was loaded, from where.
    """

    def __new__(cls, train, test, source, path):
        data = super().__new__(cls, (tuple(train), tuple(test)))
        data.source = source
        data.path = path
        return data

    def __getnewargs__(self):
        return (*self, self.source, self.path)

    @property
    def description(self):
        (x_train, _), (x_test, _) = self
        what = {
            "path": "MNIST from a file",
            "keras": "MNIST from Keras",
            "embedded": "the MNIST sample embedded in sparsekeras",
        }[self.source]
        return (
            f"{what} ({len(x_train)} train and {len(x_test)} test images): "
            f"{self.path}"
        )

    def __repr__(self):
        (x_train, _), (x_test, _) = self
        return (
            f"MnistData(source={self.source!r}, path={self.path!r}, "
            f"train={len(x_train)}, test={len(x_test)})"
        )


def load_mnist(path=None, *, source="auto", download=True):
    """Loads MNIST as `keras.datasets.mnist.load_data()` does, with fallbacks.

    With `source="auto"` (the default) the first of these that applies is
    used:

    1. `path`, or else the file named by the environment variable
       `SPARSEKERAS_MNIST`: an `.npz` with the four arrays `x_train`,
       `y_train`, `x_test` and `y_test`. A file that is missing or invalid
       raises an error rather than falling back, so a typo never trains on
       other data than the one asked for.
    2. Keras's MNIST, through `keras.datasets.mnist.load_data()`: its cache
       (`~/.keras/datasets/mnist.npz`, or under `$KERAS_HOME`), or else its
       download (11 MB) when `download` is true. Before downloading, a
       request for the file's headers, with a timeout of 10 seconds, checks
       that Keras's server can be reached; offline, Keras is not called
       (so it prints no "Downloading data from" line).
    3. The sample embedded in sparsekeras (9,000 train and 2,000 test
       images). Falling back to it logs a warning that says why (offline,
       for instance), because it is a sixth of MNIST and gives other
       numbers than the full set.

    The source used is logged at INFO level on the logger
    `"sparsekeras.datasets.mnist"` (a child of `"sparsekeras"`), and is
    recorded in the result: `data.source`, `data.path`, and the one-line
    `data.description`, which a command line tool or a report can print.
    Warnings reach stderr even when logging is not configured; to see the
    INFO line too, call e.g. `logging.basicConfig(level="INFO")`.

    Args:
        path: path of an `.npz` file to read, or `None` (default) to use
            `$SPARSEKERAS_MNIST` if set.
        source: one of `"auto"` (default, the order above), `"path"`,
            `"keras"` or `"embedded"`, to use only that source and raise an
            error if it is not available.
        download: bool, default `True`. Whether Keras may download MNIST
            when it is not in its cache. With `False` nothing goes to the
            network: the Keras cache file is read if it exists. For the
            embedded sample, `source="embedded"` never tries the network.

    Returns:
        A `MnistData`, which unpacks as
        `(x_train, y_train), (x_test, y_test)`: uint8 arrays of shape
        `(N, 28, 28)` with pixel values in 0..255 and uint8 labels of shape
        `(N,)` in 0..9.

    Raises:
        FileNotFoundError: the file given, or Keras's cache with
            `download=False`, does not exist.
        ValueError: the file is not a readable `.npz` (not a zip archive,
            or truncated), or an array is missing or has the wrong shape,
            dtype or labels. The message names the file and the problem.
        OSError: `source="keras"` and Keras's server cannot be reached, or
            Keras could not load MNIST.

    Example:

    >>> import numpy as np
    >>> data = load_mnist(source="embedded")
    >>> (x_train, y_train), (x_test, y_test) = data
    >>> x_train.shape, x_train.dtype, y_test.shape
    ((9000, 28, 28), dtype('uint8'), (2000,))
    >>> data.source
    'embedded'
    >>> np.bincount(y_train).tolist() == [900] * 10
    True
    """
    check_choice("source", source, SOURCES)
    check_bool("download", download)
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            "Invalid type for `path`, expected a str or an os.PathLike "
            f"naming an .npz file, or None. Received: path={path!r} of "
            f"type {type(path).__name__}"
        )
    if path is not None and source not in ("auto", "path"):
        raise ValueError(
            "`path` can only be given with source='auto' or source='path'. "
            f"Received: path={path!r}, source={source!r}"
        )
    if path is None:
        path = os.environ.get(ENVIRONMENT_VARIABLE) or None

    if source == "path" or (source == "auto" and path is not None):
        if path is None:
            raise ValueError(
                "source='path' needs `path` or the environment variable "
                f"{ENVIRONMENT_VARIABLE}. Received: path=None"
            )
        data = _load_path(path)
    elif source == "keras":
        data = _load_keras(download)
    elif source == "embedded":
        data = _load_embedded()
    else:
        try:
            data = _load_keras(download)
        except (OSError, ValueError) as error:
            data = _load_embedded()
            logger.warning(
                "Full MNIST is not available (%s), so using %s. For the full "
                "data set, let Keras download it, or pass `path` or set %s "
                "to an .npz file with it.",
                error,
                data.description,
                ENVIRONMENT_VARIABLE,
            )
    logger.info("Loaded %s", data.description)
    return data


def _load_path(path):
    path = os.path.expanduser(os.fspath(path))
    return MnistData(*_npz.read_file(path), source="path", path=path)


def _load_keras(download):
    cache = _keras_cache_file()
    if not download:
        if not os.path.isfile(cache):
            raise FileNotFoundError(
                f"Keras's MNIST cache {cache} does not exist, and "
                "download=False"
            )
        return MnistData(*_npz.read_file(cache), source="keras", path=cache)
    if not os.path.isfile(cache):
        _check_reachable(KERAS_ORIGIN)
    try:
        train, test = keras.datasets.mnist.load_data()
    # Keras raises a bare `Exception` when the download fails.
    except Exception as error:
        raise OSError(
            f"keras.datasets.mnist.load_data() failed: {error}"
        ) from error
    _npz.check_arrays(train, test, cache)
    return MnistData(train, test, source="keras", path=cache)


def _check_reachable(url):
    """Raises an `OSError` saying so if `url` cannot be reached."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=REACH_TIMEOUT_S):
            pass
    except OSError as error:
        raise OSError(f"offline: {url} cannot be reached ({error})") from error


def _load_embedded():
    sample = resources.files(__package__).joinpath(EMBEDDED_SAMPLE)
    with sample.open("rb") as stream:
        train, test = _npz.read_npz(stream, str(sample))
    return MnistData(train, test, source="embedded", path=str(sample))


def _keras_cache_file():
    """The file `keras.datasets.mnist.load_data()` caches MNIST in.

    `keras.utils.get_file`'s folder: `$KERAS_HOME`, else `~/.keras`, and
    `/tmp/.keras` where that folder is not writable.
    """
    home = os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras"))
    if not os.access(home, os.W_OK):
        home = os.path.join("/tmp", ".keras")
    return os.path.join(home, "datasets", "mnist.npz")
