"""SingularVectorView: the selected layer's singular filters; with a profile, what the selected SVD neuron
responds to (its top dataset images and the class distribution of its signal)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from .._labels import CLASS_SIGNAL_TITLE, CLASS_SIGNAL_Y, neuron_label
from ..core.errors import ViewError
from ..selection import Selection
from ._axes import nice_ticks
from ._base import View, callback, check_settings, esc, interaction, note_html, safe_name
from ._images import filter_tiles, pad_to, render_images
from .image_grid import ImageGrid

__all__ = ["SingularVectorView"]

BAR_COLOR, SEL_COLOR = "#1f77b4", "#d62728"
MAX_COMPARED = 6  # neurons shown side by side when several are selected
COMPARED_IMAGES = 6  # top images per compared neuron (a row must fit the panel)


def _stack(tiles: Sequence[np.ndarray]) -> np.ndarray:
    if not tiles:
        return np.zeros((0, 1, 1, 3), np.uint8)
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    return np.stack([pad_to(t, h, w) for t in tiles])


class SingularVectorView(View):
    """The singular filters of the top singular values of the selected layer, as images.

    First layers with 1 or 3 input channels show each filter as a grey or RGB image; deeper layers
    show, for each filter, the k×k patterns on its strongest input channels (blue < 0 < red, one scale
    per filter); 1×1 convs and Linear layers show the weight vector (as channel maps when it reads a
    flattened conv output). The selected SVD neuron's tile is highlighted; clicking a tile selects it.
    Several selected SVD neurons (``selection.neurons``) are shown side by side: each one's filter and
    top images in a row.

    With a `profile` (`Profiler.profile(...)`), also the top dataset images of the selected SVD neuron
    (`images`: the dataset as (N, H, W) / (N, C, H, W), e.g. DefaultData.raw; `labels`: their classes)
    and a bar chart of its mean signal per class (click a bar to select the class).
    Observes ``layer``, ``neuron``, ``neurons``, ``class_label``, ``class_labels`` and ``image_index``.
    """

    def __init__(
        self,
        analysis: Any,
        selection: Selection | None = None,
        *,
        profile: Any = None,
        images: Any = None,
        labels: Any = None,
        n_filters: int = 16,
        n_images: int = 8,
        channels: int = 4,
        tile_size: int = 64,
        image_size: int = 52,
        bars_height: str = "240px",
    ) -> None:
        super().__init__(selection)
        self.analysis, self.profile = analysis, profile
        self.images = images
        self.labels = (
            None
            if labels is None
            else np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
        )
        self.n_filters, self.n_images, self.channels = n_filters, n_images, channels
        self._top: np.ndarray = np.zeros(0, np.int64)  # dataset indices shown in the top-images grid
        self.header = widgets.HTML(note_html("no layer selected"))
        self.filters = ImageGrid(tile_size=tile_size, title="")
        self.filters.add_class("ddp-filters")
        # a click sends both traits in one message: each observer call reads the grid's whole selection
        self.filters.observe(self._on_filter_click, names=["selected_index", "selected_indices"])
        self._filter_labels: list[str] = []
        self._compared: list[int] = []  # neurons in the side-by-side rows
        self._compare_cells: list[
            tuple[int, int | None]
        ] = []  # compare tile -> (neuron, dataset index or None)
        self.compare_header = widgets.HTML("", layout=widgets.Layout(display="none"))
        self.compare = ImageGrid(
            tile_size=max(24, image_size - 10), title="", layout=widgets.Layout(display="none")
        )
        self.compare.add_class("ddp-compare")
        self.compare.observe(self._on_compare_click, names="selected_index")
        children: list[widgets.Widget] = [self.header, self.filters, self.compare_header, self.compare]
        if profile is not None:
            self.neuron_header = widgets.HTML("")
            self.top_images = ImageGrid(tile_size=image_size, title="")
            self.top_images.add_class("ddp-top-images")
            self.top_images.observe(self._on_image_click, names="selected_index")
            names = [str(c) for c in profile.class_names]
            xs, ys = bq.OrdinalScale(domain=names), bq.LinearScale()
            self.bars = bq.Bars(
                x=names,
                y=np.zeros(len(names)),
                scales={"x": xs, "y": ys},
                colors=[BAR_COLOR],
                interactions={"click": "select"},
                selected_style={"fill": SEL_COLOR, "stroke": "var(--jp-ui-font-color1)"},
                tooltip=bq.Tooltip(fields=["x", "y"], labels=["class", "mean signal"], formats=["", ".3g"]),
            )
            self.bars.observe(self._on_bar_click, names="selected")
            self.class_fig = bq.Figure(
                marks=[self.bars],
                title=CLASS_SIGNAL_TITLE,
                axes=[
                    bq.Axis(
                        scale=xs, tick_rotate=-35, tick_style={"font-size": "10px", "text-anchor": "end"}
                    ),
                    bq.Axis(
                        scale=ys,
                        side="left",
                        tick_format=".3~g",
                        label=CLASS_SIGNAL_Y,
                        label_offset="46px",
                        tick_style={"font-size": "10px"},
                    ),
                ],
                fig_margin={"top": 26, "bottom": 62, "left": 58, "right": 10},
                title_style={"font-size": "12px"},
                layout=widgets.Layout(width="100%", height=bars_height),
                min_aspect_ratio=0.1,
                max_aspect_ratio=10,
                display_toolbar=False,
            )
            children += [self.neuron_header, self.top_images, self.class_fig]
            self._watch(self._on_class, ["class_label", "class_labels"])
            self._watch(self._on_image, ["image_index"])
        self.children = [*children, self.export_bar, self.errors]
        self._watch(self._on_layer, ["layer"])
        self._watch(self._on_index, ["neuron", "neurons"])
        if self.selection.layer is not None:
            self._on_layer({"new": self.selection.layer})

    # -- filters -------------------------------------------------------------------------------------
    def _draw_filters(self, name: str) -> None:
        tiles, labels, tips, how = filter_tiles(self.analysis, name, self.n_filters, self.channels)
        self._filter_labels = labels
        with self._sync(self.filters):  # images and selection in one message
            self.filters.set_images(_stack(tiles), labels=labels, tooltips=tips)
            self._select_filters()
        self.header.value = note_html(
            f"<b>{esc(name)}</b>: singular filters of the top {len(tiles)} of {self.analysis.svd(name).rank} "
            f"singular values ({esc(how)}). Click one to select it; "
            "ctrl/shift-click tiles or σ points to compare several."
        )

    def _draw_compare(self) -> None:
        """Several selected SVD neurons: each one's filter, then its top images, one row per neuron."""
        name, chosen = self.selection.layer, list(dict.fromkeys(self.selection.neurons))[:MAX_COMPARED]
        if name is None or len(chosen) < 2:
            if self._compared:
                self._compared, self._compare_cells = [], []
                with self._sync(self.compare):
                    self.compare.set_images(np.zeros((0, 1, 1, 3), np.uint8))
                self.compare.layout.display = self.compare_header.layout.display = "none"
                if self.profile is not None:
                    self.top_images.layout.display = "flex"
            return
        tiles, cells, labels = self._compare_rows(name, chosen)
        self._compared, self._compare_cells = chosen, cells
        with self._sync(self.compare):
            self.compare.columns = 1 + (
                self._n_compared_images() if self._profiled(name) and self.images is not None else 0
            )
            self.compare.set_images(_stack(tiles), labels=labels)
        extra = len(set(self.selection.neurons)) - len(chosen)
        more = f" (the first {len(chosen)}; {extra} more selected)" if extra > 0 else ""
        what = "filter and top images" if self._profiled(name) and self.images is not None else "filter"
        self.compare_header.value = note_html(
            f"<b>{len(chosen)} selected SVD neurons</b> of {esc(name)}{more}: "
            f"each row is one neuron's {what}."
        )
        self.compare.layout.display = self.compare_header.layout.display = "flex"
        if self.profile is not None:
            self.top_images.layout.display = "none"

    def _n_compared_images(self) -> int:
        return min(self.n_images, COMPARED_IMAGES)

    def _profiled(self, name: str) -> bool:
        return self.profile is not None and name in self.profile.layers

    def _compare_rows(
        self, name: str, chosen: list[int]
    ) -> tuple[list[np.ndarray], list[tuple[int, int | None]], list[str]]:
        size = self.compare.tile_size
        all_tiles, _, _, _ = filter_tiles(self.analysis, name, max(chosen) + 1, self.channels)
        tiles, cells, labels = [], [], []
        with_images = self._profiled(name) and self.images is not None
        names = list(self.profile.class_names) if self.profile is not None else []
        for k in chosen:
            tiles.append(all_tiles[k])
            cells.append((k, None))
            labels.append(f"k={k}")
            if not with_images:
                continue
            idx, _ = self.profile.top_images(name, k, self._n_compared_images())
            idx = [int(i) for i in np.asarray(idx) if i >= 0]
            for i, img in zip(idx, render_images(self.images, idx, size=1, max_side=size), strict=True):
                tiles.append(img)
                cells.append((k, i))
                labels.append(names[int(self.labels[i])] if self.labels is not None else f"#{i}")
            for _ in range(self._n_compared_images() - len(idx)):  # keep the rows aligned
                tiles.append(np.full((size, size, 3), 255, np.uint8))
                cells.append((k, None))
                labels.append("")
        return tiles, cells, labels

    # -- profile ---------------------------------------------------------------------------------------
    def _draw_neuron(self) -> None:
        if self.profile is None:
            return
        name, neuron = self.selection.layer, self.selection.neuron
        if name is None or name not in self.profile.layers or neuron is None:
            why = (
                "select an SVD neuron"
                if name in getattr(self.profile, "layers", [])
                else f"layer {esc(name)} was not profiled"
            )
            with self._sync(self.top_images, self.bars):
                self.top_images.set_images(np.zeros((0, 1, 1, 3), np.uint8))
                self.bars.y = np.zeros(len(self.profile.class_names))
            self._top = np.zeros(0, np.int64)
            self.neuron_header.value = note_html(f"Top images and class signal: {why}.")
            return
        mean = np.nan_to_num(np.asarray(self.profile.class_mean(name))[:, neuron])
        idx, scores = self.profile.top_images(name, neuron, self.n_images)
        idx, scores = np.asarray(idx, np.int64), np.asarray(scores, np.float64)
        keep = idx >= 0  # fewer images than slots: unused slots hold -1
        idx, scores = idx[keep], scores[keep]
        names = list(self.profile.class_names)
        with self._sync(self.top_images, self.bars, self.bars.scales["y"], self.class_fig.axes[1]):
            if self.images is not None and idx.size:
                # native size, at most the tile's edge: the grid scales them,
                # no more pixels travel than it shows
                tiles = render_images(self.images, idx, size=1, max_side=self.top_images.tile_size)
                labs = [names[int(self.labels[i])] if self.labels is not None else f"#{i}" for i in idx]
                tips = [f"image {i} · signal {s:.3g}" for i, s in zip(idx, scores, strict=True)]
                self.top_images.set_images(_stack(tiles), labels=labs, tooltips=tips)
            else:
                self.top_images.set_images(np.zeros((0, 1, 1, 3), np.uint8))
            self._top = idx
            self._select_image()
            self.bars.y = mean
            lo, hi = min(0.0, float(mean.min())), max(0.0, float(mean.max()))
            pad = 0.08 * (hi - lo or 1.0)
            ys = self.bars.scales["y"]
            ys.min, ys.max = lo - (pad if lo < 0 else 0), hi + (pad if hi > 0 else 0)
            self.class_fig.axes[1].tick_values = nice_ticks(ys.min, ys.max, 5)
            self._select_bar()
        what = "" if self.images is not None else " (pass images=... to see them)"
        self.neuron_header.value = note_html(
            f"<b>{esc(neuron_label(name, neuron))}</b>: "
            f"the {idx.size} dataset images with the largest signal{what}, "
            f"and its mean signal per class."
        )

    def _select_bar(self) -> None:
        sel = self.selection
        chosen = sorted({c for c in [*sel.class_labels, sel.class_label] if c is not None})
        self.bars.selected = np.array(chosen, dtype=np.int64) if chosen else None

    def _select_image(self) -> None:
        i = self.selection.image_index
        hit = np.flatnonzero(self._top == i) if i is not None else []
        self.top_images.selected_index = int(hit[0]) if len(hit) else None

    # -- figures and settings ------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The singular filters shown; with a profile, the neuron's top images and its class signal."""
        name, k = self.selection.layer, self.selection.neuron
        if name is None:
            return {}
        from .. import figures as figs

        stem = f"vectors_{safe_name(name)}"
        out = {
            f"{stem}_filters": figs.singular_filters(
                self.analysis, name, n=self.n_filters, channels=self.channels, neuron=k
            )
        }
        if self.profile is not None and k is not None and name in self.profile.layers:
            if self.images is not None and self._top.size:
                out[f"{stem}_{k}_top_images"] = figs.top_images(
                    self.profile,
                    name,
                    k,
                    self.images,
                    self.labels,
                    n=self.n_images,
                    image_index=self.selection.image_index,
                )
            out[f"{stem}_{k}_class_signal"] = figs.class_signal(
                self.profile, name, k, class_label=self.selection.class_label
            )
        return out

    def settings(self) -> dict[str, Any]:
        return {"n_filters": self.n_filters, "n_images": self.n_images, "channels": self.channels}

    def apply_settings(self, settings: Any) -> None:
        s = check_settings(
            "SingularVectorView", settings, {"n_filters": int, "n_images": int, "channels": int}
        )
        bad = {k: v for k, v in s.items() if not 1 <= v <= 256}
        if bad:
            raise ViewError(f"SingularVectorView settings out of range {bad}: use counts from 1 to 256")
        self.n_filters, self.n_images, self.channels = (
            s.get(k, getattr(self, k)) for k in ("n_filters", "n_images", "channels")
        )
        if self.selection.layer is not None:
            self._on_layer({"new": self.selection.layer})

    # -- selection -> widgets --------------------------------------------------------------------------
    @callback
    def _on_layer(self, change: Any) -> None:
        if change["new"] is None:
            self.header.value = note_html("no layer selected")
            return
        self._draw_filters(change["new"])
        self._draw_neuron()
        self._draw_compare()
        self.clear_errors()

    @callback
    def _on_index(self, change: Any) -> None:
        if change["name"] == "neurons":  # the grid draws every chosen tile selected
            self._select_filters()
            self._draw_compare()
            return
        self._select_filters()
        self._draw_neuron()

    def _select_filters(self) -> None:
        """Show the focused SVD neuron and the several selected ones (those with a tile) on the tiles."""
        n, sel = self.filters.count, self.selection
        with self._sync(self.filters):
            self.filters.select(
                sel.neuron if sel.neuron is not None and sel.neuron < n else None,
                [k for k in sel.neurons if k < n],
            )

    @callback
    def _on_class(self, change: Any) -> None:
        with self._sync(self.bars):
            self._select_bar()

    @callback
    def _on_image(self, change: Any) -> None:
        with self._sync(self.top_images):
            self._select_image()

    # -- user interaction -> selection -----------------------------------------------------------------
    @interaction
    def _on_filter_click(self, change: Any) -> None:
        # a plain click: one SVD neuron; ctrl/shift-click: several, the last clicked one focused
        grid = self.filters
        several = [int(k) for k in grid.selected_indices] if len(grid.selected_indices) > 1 else []
        self.selection.select(neuron=grid.selected_index, neurons=several)

    @interaction
    def _on_image_click(self, change: Any) -> None:
        if change["new"] is not None and change["new"] < self._top.size:
            i = int(self._top[change["new"]])
            self.selection.image_index = i
            if self.labels is not None:
                self.selection.class_label = int(self.labels[i])

    @interaction
    def _on_compare_click(self, change: Any) -> None:
        if change["new"] is None or change["new"] >= len(self._compare_cells):
            return
        k, i = self._compare_cells[change["new"]]
        if i is None:
            self.selection.neuron = k  # a filter: focus that neuron (it stays among the selected)
        else:
            self.selection.select(
                neuron=k,
                image_index=i,
                **({"class_label": int(self.labels[i])} if self.labels is not None else {}),
            )

    @interaction
    def _on_bar_click(self, change: Any) -> None:
        new = change["new"]
        chosen = [] if new is None else [int(i) for i in np.asarray(new).ravel()]
        # ctrl/shift-click selects several classes; the last clicked one is the focus
        focus = chosen[-1] if chosen else None
        self.selection.select(class_labels=chosen if len(chosen) > 1 else [], class_label=focus)
