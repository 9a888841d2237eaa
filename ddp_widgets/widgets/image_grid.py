"""ImageGrid: hundreds of small images (filters, top dataset images) in one widget, sent as a binary buffer.

An anywidget: its front end is one ES module, built from labextension/src/image_grid.ts into
``ddp_widgets/static/image_grid.js`` and shipped inside the Python package, so it renders wherever anywidget
does (JupyterLab, Notebook 7, VS Code, Colab, marimo, exported HTML), with or without this package's
JupyterLab extension. It draws one canvas per tile, labels under the tiles, a tooltip on hover, and highlights
``selected_index``, which a click or the arrow keys set.

    >>> labels = [f"SVD neuron {k}" for k in range(len(filters))]
    >>> grid = ImageGrid.from_array(filters, labels=labels)  # doctest: +SKIP
    >>> grid.observe(lambda change: print(change["new"]), names="selected_index")  # doctest: +SKIP

Colours: uint8 data is shown as stored (0..255). float32 data is scaled per tile: ``"gray"`` maps the tile's
[min, max] to black..white, ``"diverging"`` maps [-m, m] with m = max |x| of the tile to blue..white..red
(0 is white; RGB data is centred on mid-grey instead), and ``"auto"`` picks diverging when the float data
has negative values. Non-finite values are drawn transparent.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from anywidget import AnyWidget
from ipywidgets.widgets.trait_types import bytes_serialization
from traitlets import Bytes, Enum, Int, List, TraitError, Unicode, observe, validate

__all__ = ["ImageGrid"]

_EXPECTED = "(n, h, w), (n, h, w, c) or (n, c, h, w) with c = 1 (grey) or 3 (RGB)"

STATIC = Path(__file__).resolve().parent.parent / "static"
ESM = STATIC / "image_grid.js"
CSS = STATIC / "image_grid.css"

# Shown instead of the grid when the front end was never built (a source checkout used without
# `pip install -e .`): a clear message in the output, never an empty or half-drawn grid.
_NOT_BUILT_ESM = """\
const message = "ddp-widgets: the ImageGrid's front end (ddp_widgets/static/image_grid.js) is not built. " +
  "Install the wheel, or run `pip install -e .` (or `make labextension`) in the repository with node >= 20.";
export default { render({ el }) { console.error(message); el.textContent = message; } };
"""


def _to_numpy(array: Any) -> np.ndarray:
    """A numpy view or copy of a numpy array or torch tensor (detached, on the CPU)."""
    if isinstance(array, np.ndarray):
        return array
    if hasattr(array, "detach") and hasattr(array, "cpu") and hasattr(array, "numpy"):  # a torch.Tensor
        tensor = array.detach().cpu()
        try:
            return tensor.numpy()
        except TypeError:  # bfloat16 and other dtypes numpy lacks
            return tensor.float().numpy()
    raise TypeError(
        f"ImageGrid needs a numpy array or a torch tensor of shape {_EXPECTED}, got {type(array).__name__}; "
        "wrap lists with numpy.asarray(...)"
    )


def _channels_last(array: np.ndarray, channels_last: bool | None) -> np.ndarray:
    """Return the images as (n, h, w, c) with c in {1, 3}."""
    shape = tuple(array.shape)
    if array.ndim == 3:
        return array[..., np.newaxis]
    if array.ndim != 4:
        raise ValueError(f"ImageGrid expects images of shape {_EXPECTED}, got shape {shape}")
    first_ok, last_ok = shape[1] in (1, 3), shape[3] in (1, 3)
    if channels_last is None:
        # Ambiguous shapes such as (n, 3, 3, 3) (3x3 RGB filters) read as channels first, torch's layout.
        channels_last = last_ok and not first_ok
    if channels_last and last_ok:
        return array
    if not channels_last and first_ok:
        return np.moveaxis(array, 1, 3)
    hint = (
        "; for more channels pass one channel per tile, e.g. array.reshape(-1, h, w)"
        if not (first_ok or last_ok)
        else f" (channels_last={channels_last} was given)"
    )
    raise ValueError(f"ImageGrid expects images of shape {_EXPECTED}, got shape {shape}{hint}")


def _pixel_data(array: np.ndarray) -> tuple[bytes, str]:
    """Little-endian bytes and the dtype name the front end decodes."""
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array).tobytes(), "uint8"
    if kind == "b":
        return (np.ascontiguousarray(array, dtype=np.uint8) * 255).tobytes(), "uint8"
    if kind in "iuf":
        return np.ascontiguousarray(array, dtype="<f4").tobytes(), "float32"
    raise TypeError(
        "ImageGrid needs real-valued images (uint8, other integers, floats or bools), "
        f"got dtype {array.dtype}"
    )


def _image_state(
    array: Any, labels: Sequence[Any] | None, tooltips: Sequence[Any] | None, channels_last: bool | None
) -> dict[str, Any]:
    """The synced traits that describe a stack of images, validated."""
    images = _channels_last(_to_numpy(array), channels_last)
    count, height, width, channels = (int(v) for v in images.shape)
    if count > 0 and (height == 0 or width == 0):
        raise ValueError(f"ImageGrid images need at least one pixel, got shape {tuple(images.shape)}")
    data, dtype = _pixel_data(images)
    return {
        "shape": [count, height, width, channels],
        "dtype": dtype,
        "data": data,
        "labels": _text_list(labels, count, "labels"),
        "tooltips": _text_list(tooltips, count, "tooltips"),
    }


def _text_list(values: Sequence[Any] | None, count: int, name: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        raise TypeError(f"{name} must be a sequence of {count} strings, one per image, not a single string")
    items = [str(value) for value in values]
    if len(items) not in (0, count):
        raise ValueError(f"{name} must have one entry per image: expected {count}, got {len(items)}")
    return items


class ImageGrid(AnyWidget):
    """A grid of n small images with labels, hover tooltips and a clickable, synced ``selected_index``.

    Build it with :meth:`from_array` or :meth:`set_images`; the traits below are what travels to the
    browser (the front end's list is labextension/src/traits.ts; a test keeps the two equal). ``data`` holds
    the pixels of all images as one binary buffer, (n, h, w, c) in C order.
    """

    _esm = ESM if ESM.is_file() else _NOT_BUILT_ESM
    _css = CSS if CSS.is_file() else ""

    data = Bytes(b"", help="pixels of all images, (n, h, w, c) in C order, little-endian").tag(
        sync=True, **bytes_serialization
    )
    shape = List(Int(), default_value=[0, 0, 0, 1], help="[n, h, w, c] with c in {1, 3}").tag(sync=True)
    dtype = Enum(("uint8", "float32"), default_value="uint8", help="element type of data").tag(sync=True)
    labels = List(Unicode(), help="text under each tile: none, or one per image").tag(sync=True)
    tooltips = List(Unicode(), help="hover text of each tile: none, or one per image").tag(sync=True)
    selected_index = Int(None, allow_none=True, help="index of the selected tile, or None").tag(sync=True)
    colormap = Enum(
        ("auto", "gray", "diverging"), default_value="auto", help="colour scale of float data"
    ).tag(sync=True)
    tile_size = Int(64, min=8, max=1024, help="edge of a tile in px").tag(sync=True)
    columns = Int(0, min=0, help="number of columns; 0 fits as many as the width allows").tag(sync=True)
    title = Unicode("", help="heading above the grid").tag(sync=True)

    @classmethod
    def from_array(
        cls,
        array: Any,
        labels: Sequence[Any] | None = None,
        tooltips: Sequence[Any] | None = None,
        *,
        channels_last: bool | None = None,
        **kwargs: Any,
    ) -> ImageGrid:
        """A grid of the images in `array` (numpy or torch) of shape (n, h, w), (n, h, w, c) or (n, c, h, w).

        `kwargs` set the other traits (``title``, ``tile_size``, ``columns``, ``colormap`` ...).
        `channels_last` resolves shapes such as (n, 3, 3, 3); by default they read as channels first.
        """
        # One state: the comm opens with the images in it, not with an empty grid and then an update.
        return cls(**{**kwargs, **_image_state(array, labels, tooltips, channels_last)})

    def set_images(
        self,
        array: Any,
        labels: Sequence[Any] | None = None,
        tooltips: Sequence[Any] | None = None,
        *,
        channels_last: bool | None = None,
    ) -> None:
        """Replace the images (and their labels and tooltips) in one update; the selection is cleared."""
        state = _image_state(array, labels, tooltips, channels_last)
        with self.hold_sync(), self.hold_trait_notifications():
            self.selected_index = None
            for name, value in state.items():
                setattr(self, name, value)

    @property
    def count(self) -> int:
        """Number of images."""
        return int(self.shape[0])

    @validate("shape")
    def _valid_shape(self, proposal: dict[str, Any]) -> list[int]:
        shape = list(proposal["value"])
        if len(shape) != 4 or any(v < 0 for v in shape) or shape[3] not in (1, 3):
            raise TraitError(
                f"The 'shape' trait of an ImageGrid expected [n, h, w, c] with c = 1 or 3, not {shape}; "
                "use set_images(array) to set data and shape together"
            )
        return shape

    @validate("labels", "tooltips")
    def _valid_texts(self, proposal: dict[str, Any]) -> list[str]:
        values = list(proposal["value"])
        name = proposal["trait"].name
        if len(values) not in (0, self.count):
            raise TraitError(
                f"The '{name}' trait of an ImageGrid expected none or one entry per image ({self.count}), "
                f"not {len(values)}"
            )
        return values

    @validate("selected_index")
    def _valid_selected_index(self, proposal: dict[str, Any]) -> int | None:
        index = proposal["value"]
        if index is not None and not 0 <= index < self.count:
            raise TraitError(
                f"The 'selected_index' trait of an ImageGrid expected None or 0 <= index < {self.count}, "
                f"not {index}"
            )
        return index

    @observe("shape")
    def _drop_stale_selection(self, change: dict[str, Any]) -> None:
        if self.selected_index is not None and self.selected_index >= self.count:
            self.selected_index = None
