"""ImageGrid: hundreds of small images (filters, top dataset images) in one widget, sent as a binary buffer.

An anywidget: its front end is one ES module, built from labextension/src/image_grid.ts into
``ddp_widgets/static/image_grid.js`` and shipped inside the Python package, so it renders wherever anywidget
does (JupyterLab, Notebook 7, VS Code, Colab, marimo, exported HTML), with or without this package's
JupyterLab extension. It draws one canvas per tile, labels under the tiles, a tooltip on hover, and highlights
``selected_index``, which a click or the arrow keys set. Ctrl/cmd-click toggles a tile and shift-click selects
the range from the focused tile: ``selected_indices`` then lists the several selected tiles (sorted; a click
leaves it empty while one or none is), and ``selected_index`` is the focus, the last one clicked.

    >>> labels = [f"SVD neuron {k}" for k in range(len(filters))]
    >>> grid = ImageGrid.from_array(filters, labels=labels)  # doctest: +SKIP
    >>> grid.observe(lambda change: print(change["new"]), names="selected_index")  # doctest: +SKIP
    >>> grid.select(2, [0, 2, 5])  # three tiles selected, tile 2 focused  # doctest: +SKIP

Colours: uint8 data is shown as stored (0..255). float32 data is scaled per tile: ``"gray"`` maps the tile's
[min, max] to black..white, ``"diverging"`` maps [-m, m] with m = max |x| of the tile to blue..white..red
(0 is white; RGB data is centred on mid-grey instead), and ``"auto"`` picks diverging when the float data
has negative values. Non-finite values are drawn transparent.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from anywidget import AnyWidget
from ipywidgets.widgets.trait_types import bytes_serialization
from traitlets import Bytes, Enum, Int, List, TraitError, Unicode, observe, validate

from ..core.errors import ArgumentTypeError, InvalidArgumentError

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
    raise ArgumentTypeError(
        f"ImageGrid needs a numpy array or a torch tensor of shape {_EXPECTED}, got {type(array).__name__}; "
        "wrap lists with numpy.asarray(...)"
    )


def _channels_last(array: np.ndarray, channels_last: bool | None) -> np.ndarray:
    """Return the images as (n, h, w, c) with c in {1, 3}."""
    shape = tuple(array.shape)
    if array.ndim == 3:
        return array[..., np.newaxis]
    if array.ndim != 4:
        raise InvalidArgumentError(f"ImageGrid expects images of shape {_EXPECTED}, got shape {shape}")
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
    raise InvalidArgumentError(f"ImageGrid expects images of shape {_EXPECTED}, got shape {shape}{hint}")


def _pixel_data(array: np.ndarray) -> tuple[bytes, str]:
    """Little-endian bytes and the dtype name the front end decodes."""
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array).tobytes(), "uint8"
    if kind == "b":
        return (np.ascontiguousarray(array, dtype=np.uint8) * 255).tobytes(), "uint8"
    if kind in "iuf":
        return np.ascontiguousarray(array, dtype="<f4").tobytes(), "float32"
    raise ArgumentTypeError(
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
        raise InvalidArgumentError(
            f"ImageGrid images need at least one pixel, got shape {tuple(images.shape)}"
        )
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
        raise ArgumentTypeError(
            f"{name} must be a sequence of {count} strings, one per image, not a single string"
        )
    items = [str(value) for value in values]
    if len(items) not in (0, count):
        raise InvalidArgumentError(
            f"{name} must have one entry per image: expected {count}, got {len(items)}"
        )
    return items


# The colour scales of labextension/src/grid.ts (decodeTile), in numpy: static pictures of a grid show the
# same pixels as its view (a browser test compares them with the canvases).
_NEGATIVE = np.array([33.0, 102.0, 172.0])
_CENTRE = np.array([247.0, 247.0, 247.0])
_POSITIVE = np.array([178.0, 24.0, 43.0])


def _js_round(values: np.ndarray) -> np.ndarray:
    """JavaScript's Math.round (halves up), which the view uses; numpy rounds halves to even."""
    return np.floor(values + 0.5)


def _scaled_tile(tile: np.ndarray, scale: str) -> np.ndarray:
    """RGB in 0..255 (float) of one float tile (h, w, c) on the grey or diverging scale."""
    finite = tile[np.isfinite(tile)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    abs_max = max(abs(low), abs(high))
    channels = tile.shape[-1]
    if scale == "gray":
        span = high - low
        grey = _js_round((tile - low) / span * 255) if span > 0 else np.full_like(tile, 128.0)
        return grey if channels == 3 else np.repeat(grey, 3, axis=-1)
    s = tile / abs_max if abs_max > 0 else np.zeros_like(tile)
    if channels == 3:  # signed RGB: each channel centred on mid-grey
        return _js_round((0.5 + s / 2) * 255)
    t = np.clip(s[..., 0], -1, 1)[..., np.newaxis]
    end = np.where(t < 0, _NEGATIVE, _POSITIVE)
    return _js_round(_CENTRE + (end - _CENTRE) * np.abs(t))


def colour_tiles(pixels: np.ndarray, dtype: str, colormap: str = "auto") -> np.ndarray:
    """RGBA (n, h, w, 4) uint8 of images (n, h, w, c) as the ImageGrid view draws them."""
    finite = np.isfinite(pixels).all(axis=-1) if dtype == "float32" else np.ones(pixels.shape[:-1], bool)
    if dtype == "uint8":
        rgb = pixels if pixels.shape[-1] == 3 else np.repeat(pixels, 3, axis=-1)
    else:
        scale = colormap if colormap != "auto" else ("diverging" if (pixels < 0).any() else "gray")
        values = pixels.astype(np.float64)  # the view computes in doubles too
        with np.errstate(invalid="ignore"):
            rgb = np.stack([_scaled_tile(tile, scale) for tile in values]) if len(values) else values[..., :0]
    rgba = np.zeros((*pixels.shape[:-1], 4), dtype=np.uint8)
    rgba[..., :3] = np.where(finite[..., np.newaxis], np.nan_to_num(rgb.reshape(*pixels.shape[:-1], 3)), 0)
    rgba[..., 3] = np.where(finite, 255, 0)
    return rgba


def png_bytes(rgba: np.ndarray) -> bytes:
    """A PNG file of one RGBA image (h, w, 4) uint8 (no imaging library needed)."""
    height, width = rgba.shape[:2]
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgba.reshape(height, width * 4)], axis=1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes())) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


class ImageGrid(AnyWidget):
    """A grid of n small images with labels, hover tooltips and a clickable, synced ``selected_index``
    (the focused tile) and ``selected_indices`` (several tiles, chosen with ctrl/cmd- and shift-click).

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
    selected_indices = List(
        Int(), help="the several selected tiles (ctrl/shift-click), sorted; a plain click empties it"
    ).tag(sync=True)
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
            self.selected_indices = []
            for name, value in state.items():
                setattr(self, name, value)

    def select(self, index: int | None, indices: Sequence[int] = ()) -> None:
        """Focus tile `index` and select the tiles `indices` with it, in one update.

        `indices` of one tile or none mean a single selection; a focus outside several `indices` ends them.
        """
        chosen = sorted({int(i) for i in indices})
        with self.hold_sync(), self.hold_trait_notifications():
            self.selected_index = index
            self.selected_indices = chosen if len(chosen) > 1 else []

    def chosen(self) -> list[int]:
        """Every selected tile, sorted: ``selected_indices`` and the focus."""
        focus = [] if self.selected_index is None else [self.selected_index]
        return sorted({*self.selected_indices, *focus})

    @property
    def count(self) -> int:
        """Number of images."""
        return int(self.shape[0])

    def pixels(self) -> np.ndarray:
        """The images as stored in ``data``: (n, h, w, c), uint8 or float32 (a read-only view)."""
        dtype = np.uint8 if self.dtype == "uint8" else np.dtype("<f4")
        return np.frombuffer(self.data, dtype=dtype).reshape(self.shape)

    def to_rgba(self) -> np.ndarray:
        """(n, h, w, 4) uint8: every tile's pixels as the view draws them (same colour scale)."""
        return colour_tiles(self.pixels(), self.dtype, self.colormap)

    def snapshot_html(self, max_tiles: int = 256) -> str:
        """A static HTML picture of the grid (title, tiles as inline PNGs at the tile size, labels) for
        viewers without the widget: the first `max_tiles` tiles, and a line saying how many are left out."""
        rgba = self.to_rgba()[:max_tiles]
        height, width = self.shape[1:3]
        zoom = max(1, self.tile_size // max(height, width, 1))
        labels = self.labels or [""] * self.count
        tiles = []
        for index, tile in enumerate(rgba):
            image = base64.b64encode(png_bytes(tile.repeat(zoom, axis=0).repeat(zoom, axis=1))).decode()
            label = html.escape(labels[index])
            tiles.append(
                f'<figure style="margin:2px;text-align:center"><img alt="{label or index}" '
                f'src="data:image/png;base64,{image}" width="{width * zoom}" height="{height * zoom}">'
                + (f'<figcaption style="font-size:11px">{label}</figcaption>' if label else "")
                + "</figure>"
            )
        more = self.count - len(tiles)
        title = f"<div><b>{html.escape(self.title)}</b></div>" if self.title else ""
        note = f"<div>… and {more} more images</div>" if more > 0 else ""
        empty = "<div>No images.</div>" if self.count == 0 else ""
        body = '<div style="display:flex;flex-wrap:wrap">' + "".join(tiles) + "</div>"
        return f'<div class="ddp-ImageGrid-snapshot">{title}{empty}{body}{note}</div>'

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

    @validate("selected_indices")
    def _valid_selected_indices(self, proposal: dict[str, Any]) -> list[int]:
        indices = sorted(set(proposal["value"]))
        bad = [i for i in indices if not 0 <= i < self.count]
        if bad:
            raise TraitError(
                f"The 'selected_indices' trait of an ImageGrid expected indices 0 <= index < {self.count}, "
                f"not {bad}"
            )
        return indices

    @observe("selected_index")
    def _leave_several(self, change: dict[str, Any]) -> None:
        """A focus outside the several selected tiles ends their selection (as Selection.neurons does)."""
        if change["new"] is not None and self.selected_indices and change["new"] not in self.selected_indices:
            self.selected_indices = []

    @observe("shape")
    def _drop_stale_selection(self, change: dict[str, Any]) -> None:
        if self.selected_index is not None and self.selected_index >= self.count:
            self.selected_index = None
        if any(i >= self.count for i in self.selected_indices):
            self.selected_indices = [i for i in self.selected_indices if i < self.count]
