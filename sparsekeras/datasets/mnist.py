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

import contextlib
import logging
import os
import socket
import zipfile
import zlib
from importlib import resources

import keras
import numpy as np

from sparsekeras._validation import check_bool, check_choice

logger = logging.getLogger(__name__)

ENVIRONMENT_VARIABLE = "SPARSEKERAS_MNIST"
SOURCES = ("auto", "path", "keras", "embedded")
EMBEDDED_SAMPLE = "mnist_sample.npz"
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")
EXPECTED_CONTENT = (
    "an .npz archive with the arrays x_train and x_test of shape (N, 28, 28) "
    "and dtype uint8, and y_train and y_test of shape (N,) and dtype uint8: "
    "one label in 0..9 for each of the N >= 1 images"
)
# A zip archive starts with a local file header, or with the end of the
# central directory when it holds no file.
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)
# Deflate expands a byte to at most 1032; a member declaring more than that
# over its compressed size lies, and is refused before anything is
# allocated for it.
MAX_DEFLATE_RATIO = 1032
COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# Keras downloads with urllib and no timeout: where packets are dropped
# rather than refused, a connection would wait minutes before failing.
DOWNLOAD_SOCKET_TIMEOUT_S = 10.0


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
       download (11 MB) when `download` is true. Each network operation
       times out after 10 seconds unless a default socket timeout is set
       already, so a machine without internet falls through quickly.
    3. The sample embedded in sparsekeras (9,000 train and 2,000 test
       images). Falling back to it logs a warning, because it is a sixth of
       MNIST and gives other numbers than the full set.

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
            network: the Keras cache file is read if it exists.

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
        OSError: `source="keras"` and Keras could not load MNIST.

    Example:

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
    return MnistData(*_read_file(path), source="path", path=path)


def _load_keras(download):
    cache = _keras_cache_file()
    if not download:
        if not os.path.isfile(cache):
            raise FileNotFoundError(
                f"Keras's MNIST cache {cache} does not exist, and "
                "download=False"
            )
        return MnistData(*_read_file(cache), source="keras", path=cache)
    try:
        with _default_socket_timeout(DOWNLOAD_SOCKET_TIMEOUT_S):
            train, test = keras.datasets.mnist.load_data()
    # Keras raises a bare `Exception` when the download fails.
    except Exception as error:
        raise OSError(
            f"keras.datasets.mnist.load_data() failed: {error}"
        ) from error
    _check_arrays(train, test, cache)
    return MnistData(train, test, source="keras", path=cache)


def _load_embedded():
    sample = resources.files(__package__).joinpath(EMBEDDED_SAMPLE)
    with sample.open("rb") as stream:
        train, test = _read_npz(stream, str(sample))
    return MnistData(train, test, source="embedded", path=str(sample))


def _keras_cache_file():
    """The file `keras.datasets.mnist.load_data()` caches MNIST in.

    Follows `keras.utils.get_file`: `$KERAS_HOME`, else `~/.keras`, and
    `/tmp/.keras` where that folder's parent or itself is not writable.
    """
    home = os.environ.get("KERAS_HOME")
    if home is None:
        user = os.path.expanduser("~")
        home = os.path.join(
            user if os.access(user, os.W_OK) else "/tmp", ".keras"
        )
    home = os.path.expanduser(home)
    if not os.access(home, os.W_OK):
        home = os.path.join("/tmp", ".keras")
    return os.path.join(home, "datasets", "mnist.npz")


@contextlib.contextmanager
def _default_socket_timeout(seconds):
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _read_file(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No MNIST file at {path}. Expected {EXPECTED_CONTENT}."
        )
    # Opened here rather than by `np.load`, which leaves the file open when
    # it is not a valid zip archive.
    with open(path, "rb") as stream:
        return _read_npz(stream, path)


def _read_npz(stream, name):
    """Reads and checks the four MNIST arrays of an `.npz` file.

    Each member's `.npy` header (its shape and dtype) is checked before its
    array is read, and against the size of the member, so a hostile file
    never makes this allocate more than its content holds. No pickle is
    ever loaded.

    Args:
        stream: the file, opened in binary mode.
        name: how to name the file in errors.

    Returns:
        `(x_train, y_train), (x_test, y_test)`.
    """
    magic = stream.read(4)
    length = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    if magic not in ZIP_MAGICS:
        raise _invalid(
            name,
            "it is not a zip archive, as .npz files are (it starts with "
            f"{magic!r})",
        )
    try:
        archive = zipfile.ZipFile(stream)
    except READ_ERRORS as error:
        raise _unreadable(name, error) from error
    with archive:
        members = {
            info.filename.removesuffix(".npy"): info
            for info in archive.infolist()
        }
        missing = [key for key in ARRAY_NAMES if key not in members]
        if missing:
            raise _invalid(name, f"missing array(s) {', '.join(missing)}")
        for key in ARRAY_NAMES:
            _check_member_size(members[key], length, name)
            _check_crc(archive, members[key], name)
        layout = {
            key: _read_header(archive, members[key], name)
            for key in ARRAY_NAMES
        }
        _check_layout(layout, name)
        x_train, y_train, x_test, y_test = (
            _read_array(archive, members[key], name) for key in ARRAY_NAMES
        )
    train, test = (x_train, y_train), (x_test, y_test)
    _check_arrays(train, test, name)
    return train, test


def _check_member_size(info, length, name):
    """Refuses a member whose declared size its compressed data can't hold.

    Checked from the archive's directory alone, before any member is read.
    """
    member = info.filename
    if info.compress_type not in COMPRESSIONS:
        raise _invalid(
            name, f"member {member} is compressed by an unsupported method"
        )
    if (
        info.compress_size > length
        or info.file_size
        > max(info.compress_size, 1) * MAX_DEFLATE_RATIO
        + np.lib.format.ARRAY_ALIGN
    ):
        raise _invalid(
            name,
            f"member {member} declares {info.file_size} bytes in "
            f"{info.compress_size} compressed bytes, in a file of {length}",
        )


def _check_crc(archive, info, name):
    """Reads a member through in chunks; zipfile checks its CRC-32 last."""
    try:
        with archive.open(info) as stream:
            while stream.read(2**20):
                pass
    except READ_ERRORS as error:
        raise _unreadable(name, error) from error


def _read_header(archive, info, name):
    """The `(shape, dtype)` a member's `.npy` header declares, checked.

    Raises a `ValueError` naming the member if it is not a `.npy` array,
    or if its header declares another size than the member holds.
    """
    member = info.filename
    try:
        with archive.open(info) as stream:
            version = np.lib.format.read_magic(stream)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise ValueError(f"unsupported .npy version {version}")
            shape, _, dtype = read_header(stream)
            header_size = stream.tell()
    except READ_ERRORS + (SyntaxError, TypeError) as error:
        raise _invalid(
            name,
            f"member {member} is not a .npy array "
            f"({type(error).__name__}: {error})",
        ) from error
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    # An object array (a pickle) has no fixed size: `_check_layout` refuses
    # its dtype before anything reads it.
    if not dtype.hasobject and header_size + size != info.file_size:
        raise _invalid(
            name,
            f"member {member} declares an array of shape {shape} and dtype "
            f"{dtype} ({size} bytes), but holds {info.file_size} bytes "
            f"with its {header_size}-byte header",
        )
    return shape, dtype


def _read_array(archive, info, name):
    try:
        with archive.open(info) as stream:
            return np.lib.format.read_array(stream, allow_pickle=False)
    except READ_ERRORS as error:
        raise _unreadable(name, error) from error


def _check_arrays(train, test, name):
    layout = {}
    for split, (images, labels) in (("train", train), ("test", test)):
        layout[f"x_{split}"] = (images.shape, images.dtype)
        layout[f"y_{split}"] = (labels.shape, labels.dtype)
    _check_layout(layout, name)
    for split, (_, labels) in (("train", train), ("test", test)):
        if labels.max() >= NUM_CLASSES:
            raise _invalid(name, f"y_{split} holds the label {labels.max()}")


def _check_layout(layout, name):
    """Checks the `(shape, dtype)` of each array named in `layout`."""
    for key in ARRAY_NAMES:
        if layout[key][1] != np.uint8:
            raise _invalid(name, f"{key} has dtype {layout[key][1]}")
    for split in ("train", "test"):
        images, labels = layout[f"x_{split}"][0], layout[f"y_{split}"][0]
        if len(images) != 3 or tuple(images[1:]) != IMAGE_SHAPE:
            raise _invalid(name, f"x_{split} has shape {tuple(images)}")
        if len(labels) != 1:
            raise _invalid(name, f"y_{split} has shape {tuple(labels)}")
        if images[0] != labels[0] or images[0] == 0:
            raise _invalid(
                name,
                f"x_{split} holds {images[0]} images and y_{split} "
                f"{labels[0]} labels",
            )


def _invalid(name, problem):
    return ValueError(
        f"Invalid MNIST file {name}: {problem}. Expected {EXPECTED_CONTENT}."
    )


def _unreadable(name, error):
    return _invalid(
        name,
        "it cannot be read as an .npz archive, it may be truncated "
        f"({type(error).__name__}: {error})",
    )
