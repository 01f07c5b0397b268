"""Pictures of filters, reconstructions and cost curves, for any model.

`tile_filters` and `tile_images` return plain arrays with values in [0, 1],
ready for `imshow(..., cmap="gray", vmin=0, vmax=1)`, so they can be checked
without drawing. The `save_*` functions draw them, or cost curves, into PNG
files through matplotlib's Agg canvas: they need no display and never touch
pyplot's global state, and matplotlib (the `examples` extra) is imported only
when one of them is called.
"""

import math
import os

import keras
import numpy as np

from sparsekeras._validation import (
    check_choice,
    check_filters,
    check_image_shape,
    check_int,
)

NORMALIZATIONS = ("per_filter", "global")
# Grid lines and empty cells are white, which separates tiles both from the
# black background of digits and from the mid-grey of weights near zero.
FILL = 1.0
# Non-finite weights are drawn in a colour no weight can take.
NON_FINITE = "red"
DPI = 100
# Screen pixels drawn for each array pixel, so that 28x28 tiles stay legible.
PIXEL_SCALE = 2
# A cost axis turns logarithmic where its costs span more than this factor.
LOG_SPAN = 10.0


def tile_filters(
    weights,
    *,
    filter_shape=(28, 28),
    normalize="per_filter",
    columns=None,
    padding=1,
):
    """Arranges the filters of a Dense kernel or a dictionary in a grid.

    Column `j` of `weights` is filter `j`, reshaped to `filter_shape`: the
    layout of a `keras.layers.Dense` kernel `(input_dim, units)` and of a
    `NeuralSparseCoding` dictionary. Each filter is mapped linearly to
    [0, 1], by `(w - low) / (high - low)`:

    - `"per_filter"`: `low` and `high` are the filter's own minimum and
      maximum, so every filter spans the whole grey range (contrast
      normalisation); it shows each filter's shape, not its strength.
    - `"global"`: `low` and `high` are the minimum and maximum over all
      filters, so filters keep their relative scale and weak filters look
      flat.

    A constant filter (or, with `"global"`, constant weights) is drawn mid
    grey, 0.5. NaN and infinite weights are left out of `low` and `high`
    and are NaN in the result (drawn red by `save_filters`), so they mark
    their own pixels only. Filters fill the grid row by row; the `padding`
    pixels between tiles and the cells left empty in the last row are
    white (1.0).

    Args:
        weights: array-like of shape `(input_dim, units)` with
            `input_dim = prod(filter_shape)`: numpy, a Keras variable or a
            backend tensor.
        filter_shape: `(height, width)` of one filter, default `(28, 28)`.
        normalize: `"per_filter"` (default) or `"global"`, see above.
        columns: tiles per row; default `ceil(sqrt(units))`.
        padding: pixels between neighbouring tiles, default 1.

    Returns:
        A float64 array of shape
        `(rows * height + (rows - 1) * padding,
        columns * width + (columns - 1) * padding)`, values in [0, 1]
        (NaN where a weight is not finite), where
        `rows = ceil(units / columns)`.

    Example:

    >>> weights = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0], [3.0, 7.0]])
    >>> tile_filters(weights, filter_shape=(2, 2)).round(2)
    array([[0.  , 0.33, 1.  , 0.  , 0.33],
           [0.67, 1.  , 1.  , 0.67, 1.  ]])
    >>> tile_filters(weights, filter_shape=(2, 2), normalize="global").round(2)
    array([[0.  , 0.14, 1.  , 0.14, 0.43],
           [0.29, 0.43, 1.  , 0.71, 1.  ]])
    """
    check_choice("normalize", normalize, NORMALIZATIONS)
    filters = check_filters("weights", weights, filter_shape)
    finite = np.isfinite(filters)
    filters = np.where(finite, filters, 0.0)
    axes = (1, 2) if normalize == "per_filter" else None
    low = np.min(
        filters, axis=axes, initial=np.inf, where=finite, keepdims=True
    )
    high = np.max(
        filters, axis=axes, initial=-np.inf, where=finite, keepdims=True
    )
    span = high - low
    scaled = np.divide(
        filters - low, span, out=np.full_like(filters, 0.5), where=span > 0
    )
    return _tile(
        np.where(finite, scaled, np.nan), columns=columns, padding=padding
    )


def tile_images(originals, reconstructions, *, image_shape=(28, 28), padding=1):
    """Puts images in a row above their reconstructions.

    Integer images (such as MNIST's uint8 pixels) are divided by 255; float
    images are taken to be in [0, 1] and clipped to it. No image is
    rescaled to its own range, so a faint reconstruction looks faint.

    Args:
        originals: array-like of shape `(n, prod(image_shape))` or
            `(n,) + image_shape`.
        reconstructions: the same number of images, in either layout.
        image_shape: `(height, width)` of one image, default `(28, 28)`.
        padding: pixels between neighbouring tiles, default 1.

    Returns:
        A float64 array of shape
        `(2 * height + padding, n * width + (n - 1) * padding)`, values in
        [0, 1]: originals on top, reconstructions below.

    Example:

    >>> originals = np.array([[0, 255], [255, 0]], dtype="uint8")
    >>> reconstructions = np.array([[0.1, 0.8], [0.9, 0.2]])
    >>> tile_images(originals, reconstructions, image_shape=(1, 2))
    array([[0. , 1. , 1. , 1. , 0. ],
           [1. , 1. , 1. , 1. , 1. ],
           [0.1, 0.8, 1. , 0.9, 0.2]])
    """
    originals = _images(originals, image_shape, "originals")
    reconstructions = _images(reconstructions, image_shape, "reconstructions")
    if len(originals) != len(reconstructions):
        raise ValueError(
            "Invalid value for `reconstructions`, expected as many images as "
            f"`originals` ({len(originals)}). "
            f"Received: {len(reconstructions)} images"
        )
    return _tile(
        np.concatenate([originals, reconstructions]),
        columns=len(originals),
        padding=padding,
    )


def save_filters(
    path,
    weights,
    *,
    filter_shape=(28, 28),
    columns=None,
    padding=1,
    title=None,
):
    """Writes a PNG of the filters, contrast-normalised and at global scale.

    The figure has two panels drawn by `tile_filters`: on the left each
    filter scaled to its own range (`normalize="per_filter"`), on the right
    all filters on one scale (`normalize="global"`).

    Args:
        path: the PNG file to write.
        weights: array-like of shape `(prod(filter_shape), units)`, see
            `tile_filters`.
        filter_shape: `(height, width)` of one filter, default `(28, 28)`.
        columns: tiles per row; default `ceil(sqrt(units))`.
        padding: pixels between neighbouring tiles, default 1.
        title: optional title above both panels.

    Returns:
        `path`.

    Example:

    >>> import tempfile
    >>> weights = np.random.default_rng(0).normal(size=(784, 16))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_filters(os.path.join(folder, "filters.png"), weights)
    ...     print(os.path.getsize(path) > 0)
    True
    """
    panels = {
        "contrast-normalised per filter": "per_filter",
        "global scale": "global",
    }
    tiles = {
        label: tile_filters(
            weights,
            filter_shape=filter_shape,
            normalize=normalize,
            columns=columns,
            padding=padding,
        )
        for label, normalize in panels.items()
    }
    width, height = _inches(next(iter(tiles.values())))
    figure = _figure((2 * width, height), title)
    for axes, (label, tile) in zip(
        figure.subplots(1, 2), tiles.items(), strict=True
    ):
        _show(axes, tile)
        axes.set_title(label)
        axes.set_axis_off()
    return _save(figure, path)


def save_reconstructions(
    path,
    originals,
    reconstructions,
    *,
    image_shape=(28, 28),
    padding=1,
    title=None,
):
    """Writes a PNG of images above their reconstructions.

    Args:
        path: the PNG file to write.
        originals: array-like of shape `(n, prod(image_shape))` or
            `(n,) + image_shape`, see `tile_images`.
        reconstructions: the same number of images, in either layout.
        image_shape: `(height, width)` of one image, default `(28, 28)`.
        padding: pixels between neighbouring tiles, default 1.
        title: optional title above the images.

    Returns:
        `path`.

    Example:

    >>> import tempfile
    >>> images = np.random.default_rng(0).uniform(size=(8, 784))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "reconstructions.png")
    ...     path = save_reconstructions(path, images, 0.5 * images)
    ...     print(os.path.getsize(path) > 0)
    True
    """
    tile = tile_images(
        originals, reconstructions, image_shape=image_shape, padding=padding
    )
    height = image_shape[0]
    figure = _figure(_inches(tile), title)
    axes = figure.subplots()
    _show(axes, tile)
    axes.set_xticks([])
    axes.set_yticks(
        [(height - 1) / 2, height + padding + (height - 1) / 2],
        labels=["original", "reconstruction"],
    )
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    return _save(figure, path)


def cost_figure(
    costs,
    *,
    panels=False,
    xlabel="epoch",
    ylabel="cost",
    title=None,
    log_scale=None,
):
    """Draws one or several cost curves against the epoch.

    With `panels=True` every named curve gets a panel of its own, titled
    with its name, one above the other on a shared epoch axis: curves whose
    costs differ a thousandfold (a dictionary's first epoch beside costs
    near 10) then each fill their own panel. The vertical axis is
    logarithmic where a curve spans more than a factor of `LOG_SPAN`,
    unless `log_scale` says otherwise.

    Args:
        costs: the cost of each epoch, a sequence of numbers; or a dict of
            name to such a sequence, one curve each (a Keras
            `History.history` is one).
        panels: bool, default `False`. Whether each curve of a dict gets
            its own panel; else they share one, with a legend.
        xlabel: label of the horizontal axis, default `"epoch"`.
        ylabel: label of the vertical axis, with the cost's unit, default
            `"cost"`; or a dict of name to label, one per panel.
        title: optional title above the figure.
        log_scale: `None` (default) for a logarithmic axis where the costs
            on it are positive and span more than a factor of `LOG_SPAN`;
            `True` or `False` to choose.

    Returns:
        A `matplotlib.figure.Figure` on an Agg canvas, not shown anywhere.

    Example:

    >>> figure = cost_figure({"a": [30.0, 3.0], "d": [5000.0, 10.0]},
    ...                      panels=True)
    >>> [axes.get_title() for axes in figure.axes]
    ['a', 'd']
    >>> figure.axes[1].get_yscale()
    'log'
    """
    named = isinstance(costs, dict)
    curves = {
        name: _curve(f"costs[{name!r}]" if named else "costs", curve)
        for name, curve in (costs.items() if named else [(None, costs)])
    }
    groups = (
        [{name: curve} for name, curve in curves.items()]
        if panels and named
        else [curves]
    )
    size = (6.0, 0.5 + 2.2 * len(groups)) if len(groups) > 1 else (6.0, 4.0)
    figure = _figure(size, title)
    from matplotlib.ticker import LogFormatter, MaxNLocator

    for axes, group in zip(
        figure.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0],
        groups,
        strict=True,
    ):
        for name, curve in group.items():
            epochs = np.arange(1, len(curve) + 1)
            axes.plot(epochs, curve, marker=".", label=name)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(
            ylabel.get(next(iter(group)), "cost")
            if isinstance(ylabel, dict)
            else ylabel
        )
        if _wants_log(group.values(), log_scale):
            axes.set_yscale("log")
            # Plain numbers (30, 20, 6), not 3×10¹.
            axes.yaxis.set_major_formatter(LogFormatter())
            axes.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
        axes.grid(alpha=0.3)
        if len(groups) > 1:
            axes.set_title(next(iter(group)))
        elif named:
            axes.legend()
    axes.set_xlabel(xlabel)
    return figure


def save_cost_curve(path, costs, **kwargs):
    """Writes a PNG of one or several cost curves against the epoch.

    Args:
        path: the PNG file to write.
        costs: the cost of each epoch, or a dict of name to such costs.
        **kwargs: `panels`, `xlabel`, `ylabel`, `title` and `log_scale`,
            see `cost_figure`.

    Returns:
        `path`.

    Example:

    >>> import tempfile
    >>> curves = {"ksparse": [0.9, 0.5, 0.4], "kl": [0.8, 0.6, 0.55]}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_cost_curve(os.path.join(folder, "cost.png"), curves)
    ...     print(os.path.getsize(path) > 0)
    True
    """
    return _save(cost_figure(costs, **kwargs), path)


def needs_log_scale(*curves):
    """Whether costs call for a logarithmic axis.

    Args:
        *curves: sequences of costs; non-finite values are left out.

    Returns:
        `True` when the finite costs are all positive and the largest is
        more than `LOG_SPAN` times the smallest.

    Example:

    >>> needs_log_scale([5132.0, 9.9, 9.1]), needs_log_scale([3.0, 2.0])
    (True, False)
    """
    values = np.concatenate([np.asarray(c, dtype=np.float64) for c in curves])
    values = values[np.isfinite(values)]
    return bool(
        values.size > 0
        and np.min(values) > 0
        and np.max(values) > LOG_SPAN * np.min(values)
    )


def _wants_log(curves, log_scale):
    if log_scale is not None:
        return bool(log_scale)
    return needs_log_scale(*curves)


def _curve(name, costs):
    costs = np.asarray(costs, dtype=np.float64)
    if costs.ndim != 1 or costs.size == 0:
        raise ValueError(
            f"Invalid value for `{name}`, expected a non-empty sequence of "
            f"numbers, one per epoch. Received: an array of shape {costs.shape}"
        )
    return costs


def _images(images, image_shape, name):
    """`images` as float64 arrays of shape `image_shape` in [0, 1]."""
    height, width = check_image_shape("image_shape", image_shape)
    images = keras.ops.convert_to_numpy(images)
    flat = images.ndim == 2 and images.shape[1] == height * width
    if not (flat or images.shape[1:] == (height, width)) or len(images) == 0:
        raise ValueError(
            f"Invalid shape for `{name}`, expected (n, {height * width}) or "
            f"(n, {height}, {width}) with n >= 1. "
            f"Received: {name}.shape={images.shape}"
        )
    if np.issubdtype(images.dtype, np.integer):
        images = images / 255.0
    images = np.clip(np.asarray(images, dtype=np.float64), 0.0, 1.0)
    return images.reshape(-1, height, width)


def _tile(images, *, columns, padding):
    """Lays `images` of shape `(n, h, w)` out row by row on a white grid."""
    count, height, width = images.shape
    columns = check_int("columns", columns, minimum=1, allow_none=True)
    columns = math.ceil(math.sqrt(count)) if columns is None else columns
    padding = check_int("padding", padding, minimum=0)
    rows = math.ceil(count / columns)
    grid = np.full(
        (
            rows * height + (rows - 1) * padding,
            columns * width + (columns - 1) * padding,
        ),
        FILL,
    )
    for index, image in enumerate(images):
        top = (index // columns) * (height + padding)
        left = (index % columns) * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def _inches(tile):
    """(width, height) in inches that draw `tile` at `PIXEL_SCALE`."""
    height, width = tile.shape
    return (
        max(width * PIXEL_SCALE / DPI, 2.0),
        max(height * PIXEL_SCALE / DPI, 1.0) + 0.5,
    )


def _figure(size, title):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "Writing PNG files needs matplotlib, which sparsekeras does not "
            "install by itself: `pip install matplotlib`, or install "
            "sparsekeras with its `examples` extra."
        ) from error

    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    if title is not None:
        figure.suptitle(title)
    return figure


def _show(axes, tile):
    from matplotlib import colormaps

    gray = colormaps["gray"].with_extremes(bad=NON_FINITE)
    axes.imshow(tile, cmap=gray, vmin=0.0, vmax=1.0, interpolation="nearest")


def _save(figure, path):
    figure.savefig(os.fspath(path), format="png")
    return path
