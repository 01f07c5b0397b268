"""Reads an `.npz` file of MNIST's four arrays, safely.

`np.load` trusts the archive: a `.npy` header declaring a huge shape makes it
allocate that much, and a truncated or corrupt member fails with a message
that names neither the file nor the array. Here every member's size, CRC and
header are checked against the archive before any array is read, no pickle
is ever loaded, and every problem is a `ValueError` naming the file and what
is wrong. Used for a user's file, Keras's cache and the embedded sample.
"""

import os
import zipfile
import zlib

import numpy as np

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


def read_file(path):
    """The four MNIST arrays of the `.npz` file at `path`, checked."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No MNIST file at {path}. Expected {EXPECTED_CONTENT}."
        )
    # Opened here rather than by `np.load`, which leaves the file open when
    # it is not a valid zip archive.
    with open(path, "rb") as stream:
        return read_npz(stream, path)


def read_npz(stream, name):
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
    check_arrays(train, test, name)
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


def check_arrays(train, test, name):
    """Checks the shapes, dtypes and labels of MNIST's four arrays."""
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
