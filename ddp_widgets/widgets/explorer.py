"""Explorer and explore(): every view laid out together, linked by one Selection."""

from __future__ import annotations

import html
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from traitlets import Bunch

from .._progress import transient_progress
from ..analysis import SpectralAnalysis
from ..core.errors import DataError, InputShapeError
from ..core.fingerprint import weights_fingerprint
from ..selection import Selection
from ._base import FONT, View, _live_text, drawn_html, note_html, snapshot_state
from ._snapshot import LIVE_CLASS, display_with_snapshot, figure_img, snapshot_page, update_snapshot
from .hypergraph_explorer import HypergraphExplorer
from .layer_metrics import LayerMetrics
from .layer_selector import LayerSelector
from .neuron_dashboard import for_explorer as _dashboard
from .singular_vectors import SingularVectorView
from .spectrum_plot import SpectrumPlot

__all__ = ["VIEWS", "Explorer", "ViewEntry", "explore"]

# Colours come from JupyterLab's CSS variables (light and dark themes); the layout is flex boxes that wrap,
# so narrower outputs (1024 px with a side panel) stack the columns instead of clipping them.
_CSS = """<style>
.ddp-explorer { color: var(--jp-ui-font-color1); }
.ddp-explorer .ddp-panel { border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 4px;
  padding: 3px 4px; background: var(--jp-layout-color0); box-sizing: border-box;
  contain: layout style; }
.ddp-explorer .ddp-layerselector .widget-select { flex: 1 1 auto; height: auto; min-height: 120px;
  width: 100%; min-width: 0; }
.ddp-explorer .ddp-layerselector select { height: 100%; width: 100%; min-width: 0; }
</style>"""

# views whose selection observers run first (see Explorer.__init__)
PAINT_FIRST = ("hypergraph",)

# where the four main views go; any other entry of VIEWS gets a row below them (wide: a whole row)
MAIN_VIEWS = ("spectrum", "layer_selector", "metrics", "vectors")


_STALE_PROFILE = (
    "the profile describes earlier weights than the model's now: profile again (explore(model, data)) "
    "to update the SVD-neuron signals, top images and the hypergraph"
)


@dataclass(frozen=True)
class ViewEntry:
    """One linked view of the Explorer: the attribute it is kept under, and how to build it.

    build(explorer) returns the view, or None where it does not apply (e.g. no profile). The four main
    views (MAIN_VIEWS) share one screen; any other entry gets a row below them, wide ones a whole row and
    the others two to a row. A new linked view is one more entry.
    """

    name: str
    build: Callable[[Explorer], View | None]
    wide: bool = False


def _layer_selector(ex: Explorer) -> View:
    n = len(ex.analysis.names)
    # the list stands beside the metrics chart (~300 px): few layers get taller entries, many scroll
    pad = int(min(16, max(0, (300 / max(n, 1) - 17) / 2)))
    return LayerSelector(ex.analysis, ex.selection, rows=min(14, n), option_padding=pad)


def _spectrum(ex: Explorer) -> View:
    return SpectrumPlot(ex.analysis, ex.selection, height="230px")


def _metrics(ex: Explorer) -> View:
    return LayerMetrics(ex.analysis, ex.selection, compute=ex.compute_metrics, height="235px")


def _vectors(ex: Explorer) -> View:
    return SingularVectorView(
        ex.analysis,
        ex.selection,
        profile=ex.profile,
        images=ex.images,
        labels=ex.labels,
        tile_size=56,
        image_size=50,
        bars_height="285px",
    )


def _hypergraph(ex: Explorer) -> View | None:
    # centred class means at t = 0.3 show what sets classes apart (the controls switch back)
    return (
        None
        if ex.profile is None
        else HypergraphExplorer(ex.profile, ex.selection, threshold=0.3, center=True, height="350px")
    )


VIEWS: list[ViewEntry] = [
    ViewEntry("layer_selector", _layer_selector),
    ViewEntry("spectrum", _spectrum),
    ViewEntry("metrics", _metrics),
    ViewEntry("vectors", _vectors),
    ViewEntry("hypergraph", _hypergraph, wide=True),
    ViewEntry("dashboard", _dashboard, wide=True),
]


def _flex(basis: str, grow: int = 1, **kwargs: Any) -> widgets.Layout:
    return widgets.Layout(flex=f"{grow} 1 {basis}", min_width="0", **kwargs)


def _row(children: Sequence[widgets.Widget]) -> widgets.HBox:
    """Boxes side by side that wrap onto the next line when the output is too narrow for them."""
    return widgets.HBox(
        list(children),
        layout=widgets.Layout(flex_flow="row wrap", align_items="stretch", width="100%", grid_gap="6px"),
    )


def _layout(views: dict[str, View], entries: Sequence[ViewEntry]) -> list[widgets.Widget]:
    """Rows of the explorer under its header.

    At 1440 px: spectrum above [layers | metrics] on the left, the selected neuron's filters, top images and
    class signal on the right; the other views (the hypergraph) below. Narrower, the columns stack.
    """
    get = views.get
    pair = [v for v in (get("layer_selector"), get("metrics")) if v is not None]
    if get("layer_selector") is not None:
        get("layer_selector").layout = _flex("260px", 1)
    if get("metrics") is not None:  # as tall as its content (bqplot figures keep the height they are given)
        get("metrics").layout = _flex("300px", 2, align_self="flex-start")
    left = [v for v in (get("spectrum"), _row(pair) if pair else None) if v is not None]
    rows: list[widgets.Widget] = []
    main = []
    if left:
        main.append(widgets.VBox(left, layout=_flex("600px", 3, grid_gap="6px")))
    if get("vectors") is not None:  # as tall as its content, which varies with the layer's filter rows
        get("vectors").layout = _flex("360px", 2, align_self="flex-start")
        main.append(get("vectors"))
    if main:
        rows.append(_row(main))
    pending: list[View] = []
    for entry in entries:
        view = get(entry.name)
        if view is None or entry.name in MAIN_VIEWS:
            continue
        view.layout = _flex("100%" if entry.wide else "420px")
        if entry.wide:
            rows += [_row(pending)] if pending else []
            rows.append(view)
            pending = []
        else:
            pending.append(view)
            if len(pending) == 2:
                rows.append(_row(pending))
                pending = []
    if pending:
        rows.append(_row(pending))
    return rows


class Explorer(widgets.VBox):
    """All views of a model in one layout, sharing `selection`.

    Attributes: selection, analysis, profile, and one attribute per entry of `VIEWS` (layer_selector,
    spectrum, metrics, vectors, hypergraph; None where a view does not apply, e.g. no profile).
    `messages` lists what went wrong while building (also shown); `tracebacks` keeps their tracebacks.
    One "export figures" button in the header writes every view's figures (`save_figures`).
    """

    def __init__(
        self,
        analysis: SpectralAnalysis | None,
        *,
        profile: Any = None,
        images: Any = None,
        labels: Any = None,
        selection: Selection | None = None,
        messages: Sequence[str] = (),
        title: str = "",
        compute_metrics: str = "auto",
        tracebacks: Sequence[str] = (),
        views: Sequence[ViewEntry] | None = None,
    ) -> None:
        self.analysis, self.profile, self.images, self.labels = analysis, profile, images, labels
        self.selection = selection if selection is not None else Selection()
        self.messages, self.tracebacks = list(messages), list(tracebacks)
        self.title, self.compute_metrics = title, compute_metrics
        self.status = widgets.HTML("", layout=widgets.Layout(flex="1 1 300px", min_width="0"))
        self._entries = list(VIEWS if views is None else views)
        self._views: dict[str, View] = {}
        self._snapshot_handle: Any = None
        for entry in self._entries:
            setattr(self, entry.name, None)
        box = {"layout": widgets.Layout(width="100%", grid_gap="6px")}
        if analysis is None:
            super().__init__(children=[widgets.HTML(_CSS), self.status], **box)
            self.add_class("ddp-explorer")
            self._show_status()
            return
        self.selection.attach(analysis, profile)
        layer = self.selection.layer if self.selection.layer in analysis.names else analysis.names[0]
        self.selection.select(
            layer=layer, neuron=self.selection.neuron if self.selection.neuron is not None else 0
        )
        # views observe the selection in the order they are built, and a click's messages reach the page in
        # that order: the view slowest to paint (the graph canvas) is built first so that it paints while
        # the page is still taking in the others' messages; `views` keeps the order of VIEWS
        built = {}
        for entry in sorted(self._entries, key=lambda e: e.name not in PAINT_FIRST):
            view = entry.build(self)
            if view is not None:
                built[entry.name] = view
        for entry in self._entries:
            view = built.get(entry.name)
            if view is not None:
                setattr(self, entry.name, view)
                self._views[entry.name] = view
                view.add_class("ddp-panel")
                view.export_bar.layout.display = "none"  # one export button for all, in the header
        self._link_views()
        self._publish_marks()
        self.export_button = widgets.Button(
            description="export figures",
            icon="download",
            layout=widgets.Layout(width="auto"),
            tooltip="write every view's figures (SVG, PNG, PDF) into the folder",
        )
        self.export_folder = widgets.Text(value="figures", layout=widgets.Layout(width="120px"))
        self.export_note = widgets.HTML("")
        self.export_button.on_click(self._on_export)
        self.refresh_button = widgets.Button(
            description="refresh",
            icon="refresh",
            layout=widgets.Layout(width="auto"),
            tooltip="redraw every view from the model's current weights",
        )
        self.refresh_button.on_click(lambda _button: self.refresh())
        header = widgets.HBox(
            [
                widgets.HTML(_CSS, layout=widgets.Layout(display="none")),
                self.drawn,
                self.status,
                self.export_note,
                self.refresh_button,
                self.export_button,
                self.export_folder,
            ],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center", width="100%"),
        )
        super().__init__(children=[header, *_layout(self._views, self._entries)], **box)
        self.add_class("ddp-explorer")
        self.add_class(LIVE_CLASS)
        self._show_status()

    def _on_export(self, button: Any) -> None:
        folder = self.export_folder.value.strip() or "figures"
        try:
            paths = self.save_figures(folder)
        except Exception as exc:  # noqa: BLE001 - shown in the header
            self.export_note.value = note_html(f"export failed: {html.escape(str(exc))}", "error")
            return
        self.export_note.value = note_html(f"wrote {len(paths)} files to {html.escape(folder)}/")

    def refresh(self) -> None:
        """Redraw every view from the model's current weights (after optimiser steps or `load_state_dict`).

        The analysis's caches follow the weights by themselves; this drops them all, recomputes the metrics
        the metrics view had shown, redraws the views of the selected layer, and says so when the profile (a
        record of the weights it was computed with) describes earlier weights.
        """
        if self.analysis is None:
            return
        shown = [n for n in self.analysis.names if self.analysis.is_computed(n)]
        self.analysis.refresh()
        metrics = self._views.get("metrics")
        if metrics is not None and shown:
            metrics.compute_all()
        sel = self.selection
        sel.notify_change(Bunch(name="layer", old=sel.layer, new=sel.layer, owner=sel, type="change"))
        self.messages = [m for m in self.messages if m != _STALE_PROFILE]
        if self.profile is not None and self.profile.fingerprint and not self._profile_matches_weights():
            self.messages.append(_STALE_PROFILE)
        self._show_status()

    def _profile_matches_weights(self) -> bool:
        modules = {n: self.analysis.module(n) for n in self.profile.layers}
        return weights_fingerprint(modules) == self.profile.fingerprint

    def _publish_marks(self) -> None:
        """Every view's "drawn" mark (data-ddp-drawn, see _base.drawn_html) in one hidden HTML widget,
        updated once per selection generation after every view has drawn it: one message per click
        instead of one per view."""
        for view in self._views.values():
            view.publish_mark, view.drawn.value = False, ""
        self.drawn = widgets.HTML(layout=widgets.Layout(display="none"))
        self.selection.observe(self._mark_drawn, names="generation")  # after the views' observers
        self._mark_drawn({"new": self.selection.generation})

    def _mark_drawn(self, change: Any) -> None:
        self.drawn.value = "".join(drawn_html(type(v).__name__, change["new"]) for v in self._views.values())

    def _link_views(self) -> None:
        """Views that compute metrics tell the views that show them (e.g. the layer list's α badges)."""
        listeners = [v.on_metrics_computed for v in self._views.values() if hasattr(v, "on_metrics_computed")]
        for view in self._views.values():
            hooks = getattr(view, "on_computed", None)
            if isinstance(hooks, list):
                hooks.extend(listeners)
        for fn in listeners:
            fn()

    @property
    def views(self) -> list[Any]:
        """The views shown, in layout order."""
        return list(self._views.values())

    @property
    def views_by_name(self) -> dict[str, Any]:
        return dict(self._views)

    def _show_status(self) -> None:
        parts = [f"<b>{html.escape(self.title)}</b>"] if self.title else []
        if self.analysis is not None:
            parts.append(f"{len(self.analysis.names)} decomposable layers")
            if self.profile is not None:
                parts.append(
                    f"profile of {self.profile.n_images} images, {len(self.profile.class_names)} classes"
                )
            else:
                parts.append("no profile (pass data=... to see SVD-neuron signals and the class hypergraph)")
        text = note_html(" · ".join(parts))
        for m in self.messages:
            text += note_html(html.escape(m), "error")
        if self.tracebacks:
            text += (
                '<details><summary style="cursor:pointer">traceback</summary><pre style="font-size:11px">'
                + html.escape("\n".join(self.tracebacks))
                + "</pre></details>"
            )
        self.status.value = f'<div style="{FONT}">{text}</div>'

    # -- figures, snapshot, sessions ------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """Every view's figures of the current selection (name -> matplotlib Figure)."""
        out: dict[str, Any] = {}
        for view in self.views:
            out.update(view.figures())
        return out

    def save_figures(self, folder: str | Path, formats: Sequence[str] = ("svg", "png", "pdf")) -> list[Path]:
        """Write the figures of the current selection (every view's) into `folder`; returns the paths."""
        paths: list[Path] = []
        for view in self.views:
            paths += view.save_figures(folder, formats)
        self.refresh_snapshot()
        return paths

    def save(self, path: str | Path) -> Path:
        """Save this exploration (selection, view settings, profile) into the folder `path`.

        Reopen it with ``explore(model, session=path)``; see ddp_widgets.session for the format.
        """
        from ..session import save_session

        folder = save_session(self, path)
        self.refresh_snapshot()
        return folder

    def settings(self) -> dict[str, dict[str, Any]]:
        return {name: view.settings() for name, view in self._views.items()}

    def snapshot_html(self) -> str:
        """The static HTML of every view as it is now (figures as inline PNG images)."""
        sections = []
        for name, view in self._views.items():
            if name == "layer_selector":
                sections.append(("layers", [view.snapshot_html()]))
                continue
            sections.append(
                (name, [figure_img(fig, alt=key) for key, fig in view.snapshot_figures().items()])
            )
        sel = self.selection
        note = f"selection: layer {sel.layer}, SVD neuron {sel.neuron}" if sel.layer is not None else ""
        if self.messages:
            note = " · ".join([note, *self.messages]).strip(" ·")
        return snapshot_page(self.title or "ddp-widgets Explorer", sections, note)

    def _ipython_display_(self) -> None:
        self._snapshot_handle = display_with_snapshot(
            self, _live_text(self), self.snapshot_html, self.snapshot_state
        )

    def snapshot_state(self) -> str:
        """What the explorer shows (selection and settings); the snapshot is redrawn when it changes."""
        return snapshot_state(self.selection, self.settings())

    def refresh_snapshot(self) -> None:
        """Re-render the static snapshot under the explorer (done by save() and save_figures())."""
        update_snapshot(getattr(self, "_snapshot_handle", None), _live_text(self), self.snapshot_html)

    def close(self) -> None:
        if self.analysis is not None:
            self.selection.unobserve(self._mark_drawn, names="generation")
        for v in self.views:
            v.close()
        super().close()


def _num(x: Any) -> int:
    return int(x.shape[0]) if hasattr(x, "shape") and len(x.shape) else len(x)


def _check_data(analysis: SpectralAnalysis, data: Any, labels: Any) -> Any:
    """Validate tensor-like data and labels against the model; return data as a float tensor."""
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if not isinstance(data, torch.Tensor):
        return data  # DataLoader / Dataset / iterable: the profiler checks batches as they come
    first = analysis.layers[0]
    expected = first.input_shape
    fits = (
        expected is None
        or first.order != 0
        or (data.dim() == len(expected) and tuple(data.shape[1:2]) == tuple(expected[1:2]))
    )
    if not fits:
        want = "(N, " + ", ".join(map(str, expected[1:])) + ")"
        raise InputShapeError(
            f"data of shape {tuple(data.shape)} does not fit the model: it expects a batch of inputs shaped "
            f"{want} ({expected[1]} channels). Reshape or normalise the data the way the model was trained"
        )
    if labels is not None and _num(labels) != data.shape[0]:
        raise DataError(
            f"labels has {_num(labels)} entries but data has {data.shape[0]} inputs: "
            "give one class label per input"
        )
    return data.float() if not data.is_floating_point() else data


def _display_images(data: Any, labels: Any) -> tuple[Any, Any]:
    """What to show as dataset images, and their labels: the data itself, or a TensorDataset's tensors."""
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return data, labels
    tensors = getattr(getattr(data, "dataset", data), "tensors", None)  # DataLoader / TensorDataset
    if tensors:
        return tensors[0], (tensors[1] if labels is None and len(tensors) > 1 else labels)
    return None, labels


def _trace(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def explore(
    model: Any = None,
    data: Any = None,
    labels: Any = None,
    *,
    images: Any = None,
    class_names: Sequence[str] | None = None,
    example_input: Any = None,
    batch_size: int = 64,
    selection: Selection | None = None,
    compute_metrics: str = "auto",
    progress: bool = True,
    session: str | Path | None = None,
) -> Explorer:
    """Open the explorer: layer list, spectra, metrics, singular filters and (with data) the class hypergraph.

    model=None opens the embedded default model (MiniVGG on Fashion-MNIST) with its sample images.
    data: images (tensor (N, C, H, W)), a DataLoader or a Dataset; labels: one class index per image
    (not needed for a DataLoader of (x, y)). images: what to show as top images (default: the data).
    session: a file written by `Explorer.save`: its profile, selection and view settings are restored
    (data is then not profiled again; pass images=... to see top images of your own data).
    Metrics of all layers are computed at once for small models and on a button's press for large ones;
    the hypergraph starts on centred class means at threshold 0.3 (its controls switch back to the plain
    means and the profile's threshold).
    Problems (no decomposable layer, data of the wrong shape, labels of the wrong length, a session that
    does not fit) are shown in the widget with their traceback (``explorer.tracebacks``); nothing is raised.
    """
    with _Startup(progress) as startup:
        return _explore(
            startup,
            model,
            data,
            labels,
            images,
            class_names,
            example_input,
            batch_size,
            selection,
            compute_metrics,
            progress,
            session,
        )


class _Startup:
    """A progress bar shown the moment explore() starts (inside a kernel), naming each step, until the
    explorer is built; then one plain line remains (ddp_widgets._progress.transient_progress)."""

    def __init__(self, enabled: bool) -> None:
        self._out = transient_progress(enabled and _in_kernel(), done="explorer opened")
        self.bar: widgets.IntProgress | None = None
        if enabled and _in_kernel():
            from IPython.display import display

            self.bar = widgets.IntProgress(
                value=0, min=0, max=4, bar_style="info", layout=widgets.Layout(width="220px")
            )
            self.label = widgets.HTML(note_html("opening the explorer …"))
            box = widgets.HBox(
                [self.bar, self.label], layout=widgets.Layout(align_items="center", grid_gap="8px")
            )
            box.add_class("ddp-startup")
            display(box)

    def step(self, text: str) -> None:
        if self.bar is not None:
            self.bar.value = min(self.bar.value + 1, self.bar.max)
            self.label.value = note_html(text)

    def __enter__(self) -> _Startup:  # noqa: PYI034 - a private class, never subclassed
        return self

    def __exit__(self, *exc: object) -> None:
        self._out.close()


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _explore(
    startup: _Startup,
    model: Any,
    data: Any,
    labels: Any,
    images: Any,
    class_names: Sequence[str] | None,
    example_input: Any,
    batch_size: int,
    selection: Selection | None,
    compute_metrics: str,
    progress: bool,
    session: str | Path | None,
) -> Explorer:
    try:
        saved = _load(session)
    except Exception as exc:  # noqa: BLE001 - shown in the widget
        name = "the default model" if model is None else type(model).__name__
        return Explorer(
            None, messages=[f"Cannot open this session: {exc}"], tracebacks=[_trace(exc)], title=name
        )
    try:
        startup.step("reading the model's layers …")
        opened = _Opened.of(model, data, labels, images, class_names, example_input)
        analysis = SpectralAnalysis(opened.model, opened.example_input, progress=False)
    except Exception as exc:  # noqa: BLE001 - shown in the widget
        return Explorer(
            None,
            messages=[f"Cannot analyse this model: {exc}"],
            tracebacks=[_trace(exc)],
            title=type(model).__name__ if model is not None else "",
        )
    messages: list[str] = []
    tracebacks: list[str] = []
    if opened.data is not None and (saved is None or saved.profile is None):
        startup.step(f"profiling the SVD neurons over {_count(opened.data)} …")
    profile, images, labels = _profile(analysis, opened, saved, batch_size, progress, messages, tracebacks)
    startup.step("computing the spectra and drawing the views …")
    try:
        ex = Explorer(
            analysis,
            profile=profile,
            images=images,
            labels=labels,
            selection=selection,
            messages=messages,
            title=opened.title,
            compute_metrics=compute_metrics,
            tracebacks=tracebacks,
        )
    except Exception as exc:  # noqa: BLE001
        return Explorer(
            None,
            messages=[*messages, f"Cannot build the explorer: {type(exc).__name__}: {exc}"],
            tracebacks=[*tracebacks, _trace(exc)],
            title=opened.title,
        )
    if saved is not None:
        try:
            saved.apply(ex)
        except Exception as exc:  # noqa: BLE001
            ex.messages.append(f"Session not restored: {exc}")
            ex.tracebacks.append(_trace(exc))
            ex._show_status()
    return ex


def _count(data: Any) -> str:
    try:
        return f"{len(getattr(data, 'dataset', data))} images"
    except TypeError:
        return "the data"


def _load(session: str | Path | None) -> Any:
    if session is None:
        return None
    from ..session import load_session

    return load_session(session)


@dataclass
class _Opened:
    """The model to explore and its data, after filling in the embedded default where nothing was given."""

    model: Any
    example_input: Any
    title: str
    data: Any
    labels: Any
    images: Any
    class_names: Sequence[str] | None

    @classmethod
    def of(
        cls,
        model: Any,
        data: Any,
        labels: Any,
        images: Any,
        class_names: Sequence[str] | None,
        example_input: Any,
    ) -> _Opened:
        if model is not None:
            return cls(model, example_input, type(model).__name__, data, labels, images, class_names)
        from ..zoo import default_example_input, load_default_data, load_default_model

        example_input = default_example_input() if example_input is None else example_input
        if data is None:
            d = load_default_data()
            data, labels, class_names = d.images, d.labels, d.class_names
            images = d.raw if images is None else images
        return cls(
            load_default_model(),
            example_input,
            "MiniVGG (embedded default, Fashion-MNIST)",
            data,
            labels,
            images,
            class_names,
        )


def _profile(
    analysis: SpectralAnalysis,
    opened: _Opened,
    saved: Any,
    batch_size: int,
    progress: bool,
    messages: list[str],
    tracebacks: list[str],
) -> tuple[Any, Any, Any]:
    """(profile, images, labels): the saved profile, or one made from the data (problems go to messages)."""
    data, labels, images = opened.data, opened.labels, opened.images
    if saved is not None and saved.profile is not None:
        if data is not None and images is None:
            images, labels = _display_images(data, labels)
        return saved.profile, images, labels
    if data is None:
        return None, None, None
    try:
        data = _check_data(analysis, data, labels)
        from ..profiling import Profiler

        # Profiler.profile shows its progress in a transient output (ddp_widgets._progress)
        profile = Profiler(analysis).profile(
            data, labels, batch_size=batch_size, class_names=opened.class_names, progress=progress
        )
    except Exception as exc:  # noqa: BLE001 - shown in the widget
        messages.append(f"No profile: {exc}")
        tracebacks.append(_trace(exc))
        return None, None, None
    shown, labels = _display_images(data, labels)
    return profile, (shown if images is None else images), labels
