import contextlib
import importlib.util
import logging
import os
import pickle
import socket
import urllib.request
from importlib import resources
from pathlib import Path

import keras
import numpy as np
import pytest

from sparsekeras.datasets import MnistData, load_mnist

ROOT = Path(__file__).resolve().parents[2]
FULL_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
SCRIPT = ROOT / "scripts" / "make_mnist_sample.py"
EMBEDDED = resources.files("sparsekeras.datasets").joinpath("mnist_sample.npz")
KERAS_LOADER = keras.datasets.mnist.load_data


def small_mnist(train=20, test=10, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, test, dtype=np.uint8),
    }


def write_mnist(path, **changes):
    """Writes a small valid MNIST file, with `changes` (None drops an array)."""
    arrays = {**small_mnist(), **changes}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def assert_same_arrays(data, arrays):
    (x_train, y_train), (x_test, y_test) = data
    for name, array in zip(
        ("x_train", "y_train", "x_test", "y_test"),
        (x_train, y_train, x_test, y_test),
        strict=True,
    ):
        np.testing.assert_array_equal(array, arrays[name])
        assert array.dtype == np.uint8


def offline_keras_loader():
    raise Exception("URL fetch failure on https://example.invalid/mnist.npz")


def no_network(*args, **kwargs):
    raise OSError("[Errno 101] Network is unreachable (no network in tests)")


@pytest.fixture(autouse=True)
def offline_keras(monkeypatch, tmp_path):
    """No test touches the network, the user's Keras cache or their setting."""
    monkeypatch.delenv("SPARSEKERAS_MNIST", raising=False)
    keras_home = tmp_path / "keras_home"
    keras_home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline_keras_loader)
    return keras_home


@pytest.fixture
def online(monkeypatch):
    """Keras's server answers; returns the timeouts it was asked with."""
    timeouts = []

    def answer(request, timeout=None):
        timeouts.append(timeout)
        return contextlib.nullcontext()

    monkeypatch.setattr(urllib.request, "urlopen", answer)
    return timeouts


@pytest.fixture(scope="module")
def full_mnist():
    if not FULL_MNIST.is_file():
        pytest.skip(f"the full MNIST file {FULL_MNIST} is not there")
    with np.load(FULL_MNIST) as archive:
        return {name: archive[name] for name in archive.files}


@pytest.fixture(scope="module")
def sample_script():
    spec = importlib.util.spec_from_file_location("make_mnist_sample", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_reads_the_file_given_as_path(tmp_path):
    path = write_mnist(tmp_path / "mnist.npz")
    data = load_mnist(path)
    assert_same_arrays(data, small_mnist())
    assert data.source == "path"
    assert data.path == str(path)


def test_reads_the_file_named_by_the_environment_variable(
    tmp_path, monkeypatch
):
    path = write_mnist(tmp_path / "mnist.npz")
    monkeypatch.setenv("SPARSEKERAS_MNIST", str(path))
    data = load_mnist()
    assert_same_arrays(data, small_mnist())
    assert (data.source, data.path) == ("path", str(path))


def test_path_argument_wins_over_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "SPARSEKERAS_MNIST", str(write_mnist(tmp_path / "env.npz"))
    )
    other = small_mnist(train=5, test=3, seed=1)
    path = write_mnist(tmp_path / "arg.npz", **other)
    assert_same_arrays(load_mnist(path), other)


def test_uses_keras_when_its_loader_succeeds(
    monkeypatch, offline_keras, online
):
    arrays = small_mnist()
    monkeypatch.setattr(
        keras.datasets.mnist,
        "load_data",
        lambda: (
            (arrays["x_train"], arrays["y_train"]),
            (arrays["x_test"], arrays["y_test"]),
        ),
    )
    data = load_mnist()
    assert_same_arrays(data, arrays)
    assert data.source == "keras"
    assert data.path == str(offline_keras / "datasets" / "mnist.npz")


def test_falls_back_to_the_embedded_sample_with_a_warning(caplog):
    with caplog.at_level(logging.INFO, logger="sparsekeras"):
        data = load_mnist()
    assert data.source == "embedded"
    (x_train, _), (x_test, _) = data
    assert (len(x_train), len(x_test)) == (9000, 2000)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert (
        "offline: https://storage.googleapis.com/" in warnings[0].getMessage()
    )
    assert "SPARSEKERAS_MNIST" in warnings[0].getMessage()


def test_offline_says_so_and_prints_no_download(monkeypatch, capsys, caplog):
    monkeypatch.setattr(keras.datasets.mnist, "load_data", KERAS_LOADER)
    with caplog.at_level(logging.INFO, logger="sparsekeras"):
        data = load_mnist()
    assert data.source == "embedded"
    printed = capsys.readouterr()
    assert printed.out == ""
    assert "Downloading" not in printed.err
    first = caplog.records[0]
    assert first.levelno == logging.WARNING
    assert first.getMessage().startswith(
        "Full MNIST is not available (offline: https://"
    )


def test_keras_failing_online_falls_back_naming_its_error(online, caplog):
    with caplog.at_level(logging.WARNING, logger="sparsekeras"):
        assert load_mnist().source == "embedded"
    assert "URL fetch failure" in caplog.records[0].getMessage()


def test_reachability_check_has_a_timeout_of_its_own(online):
    assert load_mnist().source == "embedded"
    assert online == [10.0]
    assert socket.getdefaulttimeout() is None


@pytest.mark.parametrize("source", ["path", "embedded"])
def test_logs_the_source_at_info_level(tmp_path, caplog, source):
    path = write_mnist(tmp_path / "mnist.npz") if source == "path" else None
    with caplog.at_level(logging.INFO, logger="sparsekeras"):
        data = load_mnist(path, source=source)
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert data.description in caplog.records[0].getMessage()
    assert data.path in data.description


def test_explicit_keras_source_raises_when_keras_fails(online):
    with pytest.raises(OSError, match="URL fetch failure") as info:
        load_mnist(source="keras")
    assert info.value.__cause__ is not None


def test_explicit_keras_source_offline_says_offline():
    with pytest.raises(OSError, match="offline: https://") as info:
        load_mnist(source="keras")
    assert "Network is unreachable" in str(info.value)


def test_no_download_reads_the_keras_cache_without_calling_keras(
    offline_keras,
):
    (offline_keras / "datasets").mkdir()
    write_mnist(offline_keras / "datasets" / "mnist.npz")
    data = load_mnist(download=False)
    assert_same_arrays(data, small_mnist())
    assert data.source == "keras"


def test_no_download_without_cache_never_calls_keras(monkeypatch):
    def fail():
        raise AssertionError("the Keras loader was called")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fail)
    assert load_mnist(download=False).source == "embedded"
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_mnist(source="keras", download=False)


@pytest.mark.parametrize("default", [None, 3.0])
def test_keras_download_leaves_the_default_socket_timeout_alone(
    monkeypatch, online, default
):
    seen = []

    def record_timeout():
        seen.append(socket.getdefaulttimeout())
        return offline_keras_loader()

    monkeypatch.setattr(keras.datasets.mnist, "load_data", record_timeout)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(default)
    try:
        load_mnist()
        assert socket.getdefaulttimeout() == default
    finally:
        socket.setdefaulttimeout(previous)
    # The setting is the process's: a library loading data must not change it.
    assert seen == [default]


def test_result_unpacks_pickles_and_describes_itself(tmp_path):
    data = load_mnist(write_mnist(tmp_path / "mnist.npz"))
    assert isinstance(data, tuple) and len(data) == 2
    copy = pickle.loads(pickle.dumps(data))
    assert isinstance(copy, MnistData)
    assert (copy.source, copy.path) == (data.source, data.path)
    assert_same_arrays(copy, small_mnist())
    assert repr(data) == (
        f"MnistData(source='path', path={data.path!r}, train=20, test=10)"
    )
    assert "20 train and 10 test images" in data.description


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"source": "internet"}, "Invalid value for `source`"),
        ({"path": "a.npz", "source": "embedded"}, "can only be given"),
        ({"source": "path"}, "needs `path`"),
    ],
)
def test_rejects_inconsistent_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_mnist(**kwargs)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere.npz"
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_mnist(path)


def test_a_bad_file_raises_instead_of_falling_back(tmp_path, monkeypatch):
    path = tmp_path / "typo.npz"
    monkeypatch.setenv("SPARSEKERAS_MNIST", str(path))
    with pytest.raises(FileNotFoundError, match="typo.npz"):
        load_mnist()


def test_truncated_file_is_reported_as_unreadable(tmp_path):
    path = write_mnist(tmp_path / "mnist.npz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated") as info:
        load_mnist(path)
    assert str(path) in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize(
    "content",
    [b"", b"not an archive\n", np.lib.format.MAGIC_PREFIX + b"\x01\x00"],
    ids=["empty", "text", "npy"],
)
def test_file_that_is_not_a_zip_archive_is_rejected(tmp_path, content):
    path = tmp_path / "mnist.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a zip archive") as info:
        load_mnist(path)
    assert str(path) in str(info.value)


def test_corrupted_archive_member_is_reported_as_unreadable(tmp_path):
    path = tmp_path / "mnist.npz"
    arrays = small_mnist()
    np.savez_compressed(path, **arrays)
    data = bytearray(path.read_bytes())
    data[100:400] = bytes(300)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="cannot be read") as info:
        load_mnist(path)
    assert str(path) in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"x_test": None}, "missing array(s) x_test"),
        (
            {name: None for name in ("x_train", "y_train", "x_test", "y_test")},
            "missing array(s) x_train, y_train, x_test, y_test",
        ),
        ({"y_train": None, "y_test": None}, "missing array(s) y_train, y_test"),
        ({"x_train": np.zeros((20, 784), np.uint8)}, "x_train has shape"),
        ({"x_test": np.zeros((10, 28, 27), np.uint8)}, "x_test has shape"),
        ({"y_test": np.zeros((10, 1), np.uint8)}, "y_test has shape"),
        ({"x_train": np.zeros((20, 28, 28), np.float32)}, "dtype float32"),
        ({"y_test": np.zeros(10, np.int64)}, "y_test has dtype int64"),
        ({"y_train": np.zeros(19, np.uint8)}, "20 images and y_train 19"),
        (
            {
                "x_test": np.zeros((0, 28, 28), np.uint8),
                "y_test": np.zeros(0, np.uint8),
            },
            "0 images",
        ),
        ({"y_train": np.full(20, 10, np.uint8)}, "label 10"),
    ],
)
def test_invalid_arrays_are_named_in_the_error(tmp_path, changes, problem):
    path = write_mnist(tmp_path / "mnist.npz", **changes)
    with pytest.raises(ValueError) as info:
        load_mnist(path)
    message = str(info.value)
    assert message.startswith(f"Invalid MNIST file {path}: ")
    assert problem in message


def test_embedded_sample_is_stratified_and_shuffled():
    (_, y_train), (_, y_test) = load_mnist(source="embedded")
    assert np.bincount(y_train).tolist() == [900] * 10
    assert np.bincount(y_test).tolist() == [200] * 10
    assert set(y_train[:100].tolist()) == set(range(10))


def test_embedded_sample_fits_in_two_megabytes():
    assert os.path.getsize(str(EMBEDDED)) <= 2_000_000


def test_embedded_sample_holds_real_mnist_images_from_each_split(full_mnist):
    (x_train, y_train), (x_test, y_test) = load_mnist(source="embedded")
    for split, images, labels in (
        ("train", x_train, y_train),
        ("test", x_test, y_test),
    ):
        label_of = dict(
            zip(
                map(bytes, full_mnist[f"x_{split}"].reshape(-1, 784)),
                full_mnist[f"y_{split}"].tolist(),
                strict=True,
            )
        )
        found = [
            label_of.get(bytes(image)) for image in images.reshape(-1, 784)
        ]
        assert found == labels.tolist()


def test_generator_script_reproduces_the_embedded_sample(
    full_mnist, sample_script
):
    sample = sample_script.make_sample(full_mnist)
    (x_train, y_train), (x_test, y_test) = load_mnist(source="embedded")
    assert_same_arrays(((x_train, y_train), (x_test, y_test)), sample)


def test_generator_writes_the_same_bytes_every_time(tmp_path, sample_script):
    arrays = small_mnist()
    first, second = tmp_path / "first.npz", tmp_path / "second.npz"
    sample_script.write_npz(first, arrays)
    sample_script.write_npz(second, arrays)
    assert first.read_bytes() == second.read_bytes()
    assert_same_arrays(load_mnist(first), arrays)


@pytest.mark.slow
def test_generator_command_line_writes_the_embedded_sample(
    tmp_path, full_mnist, sample_script
):
    output = tmp_path / "sample.npz"
    sample_script.main(["--source", str(FULL_MNIST), "--output", str(output)])
    with np.load(str(EMBEDDED)) as shipped:
        assert_same_arrays(load_mnist(output), dict(shipped))


def test_mnist_credit_and_license_ship_with_the_sample():
    text = (
        resources.files("sparsekeras.datasets")
        .joinpath("MNIST_LICENSE.md")
        .read_text(encoding="utf-8")
    )
    for credit in ("Yann LeCun", "Corinna Cortes", "CC BY-SA 3.0"):
        assert credit in text


def write_archive(path, members):
    """Writes a zip archive of raw `members` (name to bytes) at `path`."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return path


def npy_bytes(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npy_header(shape, dtype="|u1"):
    """A `.npy` header declaring `shape` and `dtype`, with no data after it."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def valid_members(**changes):
    members = {f"{k}.npy": npy_bytes(v) for k, v in small_mnist().items()}
    return {**members, **changes}


@pytest.mark.parametrize(
    "members",
    [
        valid_members(**{"x_train.npy": b"not an array"}),
        {
            **{k: v for k, v in valid_members().items() if k != "y_test.npy"},
            "y_test": b"raw bytes, no .npy suffix",
        },
    ],
    ids=["bytes", "no-suffix"],
)
def test_member_that_is_not_npy_is_named_in_a_value_error(tmp_path, members):
    path = write_archive(tmp_path / "mnist.npz", members)
    with pytest.raises(ValueError, match="is not a .npy array") as info:
        load_mnist(path)
    assert str(path) in str(info.value)


def test_huge_declared_shape_is_refused_before_allocating(tmp_path):
    members = valid_members(
        **{"x_train.npy": npy_header((10**13, 28, 28)) + bytes(64)}
    )
    path = write_archive(tmp_path / "mnist.npz", members)
    assert path.stat().st_size < 20_000
    with pytest.raises(ValueError, match="member x_train.npy declares"):
        load_mnist(path)


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    pickled = np.array([object()] * 20, dtype=object)
    members = valid_members(**{"y_train.npy": npy_bytes(pickled)})
    path = write_archive(tmp_path / "mnist.npz", members)
    with pytest.raises(ValueError, match="y_train has dtype object"):
        load_mnist(path)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"path": 123}, TypeError, "path"),
        ({"path": ["mnist.npz"]}, TypeError, "path"),
        ({"source": "embedded", "download": "False"}, TypeError, "download"),
        ({"source": "keras", "download": 0}, TypeError, "download"),
    ],
)
def test_argument_of_the_wrong_type_is_named(kwargs, error, name):
    with pytest.raises(error, match=f"`{name}`"):
        load_mnist(**kwargs)
