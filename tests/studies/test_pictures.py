import struct
import sys

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsekeras.studies.pictures import (
    cost_figure,
    save_cost_curve,
    save_filters,
    save_reconstructions,
    tile_filters,
    tile_images,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) of a PNG file, read from its IHDR chunk."""
    with open(path, "rb") as stream:
        header = stream.read(24)
    assert header[:8] == PNG_SIGNATURE
    assert header[12:16] == b"IHDR"
    return struct.unpack(">II", header[16:24])


def random_weights(input_dim, units, seed=0):
    return np.random.default_rng(seed).normal(size=(input_dim, units))


@settings(max_examples=30, deadline=None)
@given(
    units=st.integers(1, 30),
    height=st.integers(1, 6),
    width=st.integers(1, 6),
    columns=st.none() | st.integers(1, 8),
    padding=st.integers(0, 3),
)
def test_grid_holds_every_filter_with_padding_between(
    units, height, width, columns, padding
):
    tile = tile_filters(
        random_weights(height * width, units),
        filter_shape=(height, width),
        columns=columns,
        padding=padding,
    )
    columns = columns or int(np.ceil(np.sqrt(units)))
    rows = -(-units // columns)
    assert tile.shape == (
        rows * height + (rows - 1) * padding,
        columns * width + (columns - 1) * padding,
    )
    assert tile.dtype == np.float64
    assert tile.min() >= 0.0 and tile.max() <= 1.0


def test_filters_fill_the_grid_row_by_row_from_their_columns():
    weights = np.arange(2 * 3 * 5, dtype=float).reshape(6, 5) ** 2
    tile = tile_filters(
        weights, filter_shape=(2, 3), columns=2, padding=1, normalize="global"
    )
    scaled = weights / weights.max()
    # Filter 3 (fourth column) sits in row 1, column 1 of a 3 x 2 grid.
    np.testing.assert_allclose(tile[3:5, 4:7], scaled[:, 3].reshape(2, 3))
    np.testing.assert_allclose(tile[0:2, 0:3], scaled[:, 0].reshape(2, 3))
    assert np.all(tile[2, :] == 1.0)
    assert np.all(tile[:, 3] == 1.0)
    assert np.all(tile[6:8, 4:7] == 1.0)


def test_per_filter_normalisation_stretches_each_filter_to_0_and_1():
    weights = random_weights(16, 6) * np.array([1e-3, 0.1, 1, 10, 100, 1e4])
    tile = tile_filters(weights, filter_shape=(4, 4), columns=6, padding=0)
    for index in range(6):
        filter_tile = tile[:, 4 * index : 4 * index + 4]
        assert filter_tile.min() == 0.0
        assert filter_tile.max() == 1.0


def test_global_normalisation_keeps_the_relative_scale_of_filters():
    base = random_weights(16, 1)
    weights = np.concatenate([base, 3 * base], axis=1)
    tile = tile_filters(
        weights, filter_shape=(4, 4), normalize="global", padding=0
    )
    weak, strong = tile[:, :4], tile[:, 4:]
    low, high = weights.min(), weights.max()
    np.testing.assert_allclose(weak, (base.reshape(4, 4) - low) / (high - low))
    # One common slope: the strong filter's spread is three times the weak's.
    np.testing.assert_allclose(np.ptp(strong), 3 * np.ptp(weak))
    assert tile.min() == 0.0 and tile.max() == 1.0


@pytest.mark.parametrize("normalize", ["per_filter", "global"])
def test_constant_filters_are_mid_grey_not_nan(normalize):
    weights = np.full((9, 4), 2.5)
    tile = tile_filters(weights, filter_shape=(3, 3), normalize=normalize)
    assert not np.isnan(tile).any()
    assert np.all(tile[:3, :3] == 0.5)


def test_a_constant_filter_among_others_is_mid_grey_per_filter():
    weights = random_weights(9, 3)
    weights[:, 1] = -7.0
    tile = tile_filters(weights, filter_shape=(3, 3), columns=3, padding=0)
    assert np.all(tile[:, 3:6] == 0.5)
    assert tile[:, :3].max() == 1.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("normalize", ["per_filter", "global"])
def test_a_non_finite_weight_marks_only_its_own_pixel(normalize, bad):
    weights = random_weights(9, 4)
    weights[4, 2] = np.median(weights[:, 2])
    layout = {"filter_shape": (3, 3), "columns": 4, "padding": 0}
    clean = tile_filters(weights, normalize=normalize, **layout)
    weights[4, 2] = bad
    tile = tile_filters(weights, normalize=normalize, **layout)
    marked = np.isnan(tile)
    assert marked.sum() == 1 and marked[1, 2 * 3 + 1]
    np.testing.assert_array_equal(tile[~marked], clean[~marked])


def test_an_all_nan_filter_is_nan_and_the_others_keep_their_scale():
    weights = random_weights(9, 2)
    clean = tile_filters(weights, filter_shape=(3, 3), normalize="global")
    with_nan = np.concatenate([weights, np.full((9, 1), np.nan)], axis=1)
    tile = tile_filters(with_nan, filter_shape=(3, 3), normalize="global")
    np.testing.assert_array_equal(tile[:3, :7], clean[:3, :7])
    assert np.isnan(tile[4:7, :3]).all()


def test_save_filters_draws_non_finite_weights_red(tmp_path):
    from matplotlib.image import imread

    weights = random_weights(784, 4)
    weights[:, 0] = np.nan
    pixels = imread(save_filters(tmp_path / "filters.png", weights))
    red = (pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.1)
    assert red.sum() > 2 * 28 * 28


def test_accepts_a_keras_variable():
    weights = random_weights(784, 4)
    variable = keras.Variable(weights)
    np.testing.assert_allclose(
        tile_filters(variable), tile_filters(weights), atol=1e-6
    )


@pytest.mark.parametrize(
    "weights, kwargs, message",
    [
        (np.zeros((783, 4)), {}, r"input_dim = 28 \* 28 = 784"),
        (np.zeros(784), {}, r"weights.shape=\(784,\)"),
        (np.zeros((784, 0)), {}, "units >= 1"),
        (np.zeros((784, 4)), {"filter_shape": (28, 28, 1)}, "filter_shape"),
        (np.zeros((784, 4)), {"filter_shape": 784}, "filter_shape"),
        (np.zeros((784, 4)), {"filter_shape": (0, 784)}, "filter_shape"),
        (np.zeros((784, 4)), {"normalize": "local"}, "normalize"),
        (np.zeros((784, 4)), {"columns": 0}, "columns"),
        (np.zeros((784, 4)), {"padding": -1}, "padding"),
    ],
)
def test_tile_filters_rejects_bad_arguments(weights, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tile_filters(weights, **kwargs)


def test_images_sit_above_their_reconstructions():
    rng = np.random.default_rng(0)
    originals = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    reconstructions = rng.uniform(size=(3, 784))
    tile = tile_images(originals, reconstructions, padding=2)
    assert tile.shape == (2 * 28 + 2, 3 * 28 + 2 * 2)
    np.testing.assert_allclose(tile[:28, 30:58], originals[1] / 255.0)
    np.testing.assert_allclose(
        tile[30:, 60:], reconstructions[2].reshape(28, 28)
    )
    assert np.all(tile[28:30, :] == 1.0)


def test_float_images_are_clipped_not_rescaled():
    originals = np.full((1, 4), 0.25)
    reconstructions = np.array([[-0.5, 0.1, 0.2, 1.5]])
    tile = tile_images(originals, reconstructions, image_shape=(2, 2))
    np.testing.assert_allclose(tile[:2], [[0.25, 0.25], [0.25, 0.25]])
    np.testing.assert_allclose(tile[3:], [[0.0, 0.1], [0.2, 1.0]])


@pytest.mark.parametrize(
    "originals, reconstructions, message",
    [
        (np.zeros((3, 784)), np.zeros((2, 784)), "as many images"),
        (np.zeros((3, 783)), np.zeros((3, 784)), r"originals.shape=\(3, 783\)"),
        (np.zeros((3, 784)), np.zeros((3, 28, 27)), "reconstructions.shape"),
        (np.zeros((0, 784)), np.zeros((0, 784)), "n >= 1"),
        (np.zeros(784), np.zeros(784), r"originals.shape=\(784,\)"),
    ],
)
def test_tile_images_rejects_bad_shapes(originals, reconstructions, message):
    with pytest.raises(ValueError, match=message):
        tile_images(originals, reconstructions)


def test_save_filters_writes_two_panels_of_png(tmp_path):
    path = save_filters(
        tmp_path / "filters.png", random_weights(784, 25), title="filters"
    )
    assert path == tmp_path / "filters.png"
    width, height = png_size(path)
    # Two 5 x 5 grids of 28-pixel tiles, with at least a screen pixel for each
    # of their pixels.
    assert width > 2 * (5 * 28 + 4)
    assert height > 5 * 28 + 4


def test_save_reconstructions_writes_a_png(tmp_path):
    images = np.random.default_rng(0).uniform(size=(10, 784))
    path = save_reconstructions(
        str(tmp_path / "reconstructions.png"), images, images[::-1]
    )
    assert path == str(tmp_path / "reconstructions.png")
    width, height = png_size(path)
    assert width > 10 * 28 + 9
    assert height > 2 * 28 + 1


@pytest.mark.parametrize(
    "costs",
    [[3.0, 2.0, 1.5], {"ksparse": [3.0, 2.0], "kl": [4.0, 1.0, 0.5]}],
    ids=["one", "several"],
)
def test_save_cost_curve_writes_a_png(tmp_path, costs):
    path = save_cost_curve(
        tmp_path / "cost.png", costs, title="cost", log_scale=True
    )
    assert png_size(path) == (600, 400)


# The first epochs of the original preset's five cases on full MNIST:
# (d)'s dictionary starts from images, far from its trained cost.
FIVE_COSTS = {
    "(a) plain": [34.4, 25.9, 23.9, 22.0],
    "(b) weight decay": [35.0, 26.5, 24.5, 23.1],
    "(c) KL": [72.7, 43.9, 37.1, 33.0],
    "(d) neural sparse coding": [5132.0, 9.9, 9.1, 10.6],
    "(e) k-sparse": [19.4, 9.6, 7.7, 6.9],
}


def share_of_axis(axes, curve):
    """The share of `axes`' vertical extent that `curve`'s values span."""
    scale = np.log10 if axes.get_yscale() == "log" else np.asarray
    low, high = scale(np.asarray(axes.get_ylim()))
    return float(np.ptp(scale(np.asarray(curve))) / (high - low))


def test_cost_panels_let_every_case_fill_its_own_axis():
    units = {name: "½‖x − x̂‖² per image" for name in FIVE_COSTS}
    figure = cost_figure(FIVE_COSTS, panels=True, ylabel=units)
    by_title = {axes.get_title(): axes for axes in figure.axes}
    assert list(by_title) == list(FIVE_COSTS)
    for name, curve in FIVE_COSTS.items():
        axes = by_title[name]
        assert share_of_axis(axes, curve) > 0.5, name
        assert axes.get_ylabel() == "½‖x − x̂‖² per image"
    # One shared epoch axis, labelled once, under the last panel.
    assert len({axes.get_xlim() for axes in figure.axes}) == 1
    assert figure.axes[-1].get_xlabel() == "epoch"


def test_a_cost_falling_a_thousandfold_is_drawn_on_a_log_axis():
    curve = FIVE_COSTS["(d) neural sparse coding"]
    axes = cost_figure(curve).axes[0]
    assert axes.get_yscale() == "log"
    # Its later epochs, near 10, are not squashed against the bottom.
    assert share_of_axis(axes, curve[1:]) > 0.01
    assert cost_figure([3.0, 2.0, 1.5]).axes[0].get_yscale() == "linear"
    assert cost_figure(curve, log_scale=False).axes[0].get_yscale() == (
        "linear"
    )


@pytest.mark.parametrize(
    "costs, message",
    [([], r"`costs`"), ({"kl": [[1.0, 2.0]]}, r"`costs\['kl'\]`")],
)
def test_save_cost_curve_rejects_empty_or_nested_costs(
    tmp_path, costs, message
):
    with pytest.raises(ValueError, match=message):
        save_cost_curve(tmp_path / "cost.png", costs)
    assert not (tmp_path / "cost.png").exists()


def test_save_filters_checks_shapes_before_drawing(tmp_path):
    with pytest.raises(ValueError, match="input_dim"):
        save_filters(tmp_path / "filters.png", np.zeros((10, 3)))
    assert not (tmp_path / "filters.png").exists()


def test_save_functions_say_when_matplotlib_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        save_cost_curve(tmp_path / "cost.png", [1.0, 0.5])
    # The arrays need no matplotlib.
    tile = tile_filters(random_weights(4, 2), filter_shape=(2, 2))
    assert tile.shape == (2, 5)
