"""What every view shares: the Selection it observes, an echo guard, call counts, visible errors."""

from __future__ import annotations

import contextlib
import functools
import html
import json
import re
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import ipywidgets as widgets

from ..core.errors import ViewArgumentError, ViewError
from ..selection import Selection
from ._snapshot import LIVE_CLASS, display_with_snapshot, figure_img, snapshot_page, update_snapshot

F = TypeVar("F", bound=Callable[..., Any])

# a readable sans-serif stack used by every HTML snippet of the views
FONT = "font-family: var(--jp-ui-font-family, sans-serif); font-size: 12px;"
# text colours: JupyterLab's theme variables, with warning/error colours readable on light and dark themes
NOTE_COLORS = {
    "note": "var(--jp-ui-font-color1, #333)",
    "warn": "var(--ddp-warn-color, #8a5a00)",
    "error": "var(--ddp-error-color, #b00020)",
}
# every view carries this style (hidden): widget texts and canvases follow the JupyterLab theme
THEME_CSS = """<style>
.ddp-view { --ddp-warn-color: #8a5a00; --ddp-error-color: #b00020; color: var(--jp-ui-font-color1); }
[data-jp-theme-light='false'] .ddp-view { --ddp-warn-color: #ffcc80; --ddp-error-color: #ff8a80; }
.ddp-view .widget-label, .ddp-view .widget-checkbox span, .ddp-view .widget-label-basic span {
  color: var(--jp-ui-font-color1); }
.ddp-view .widget-checkbox, .ddp-view .widget-dropdown, .ddp-view .widget-button { height: 24px; }
.ddp-view .ddp-graph { background: var(--jp-layout-color0); }
.ddp-view .bqplot .plotarea_background { fill: var(--jp-layout-color0); }
.ddp-view .bqplot { --bq-content-font-color: var(--jp-ui-font-color1);
  --bq-mainheading-fill: var(--jp-ui-font-color1);
  --bq-axislabel-fill: var(--jp-ui-font-color1); --bq-axis-tick-text-fill: var(--jp-ui-font-color1); }
.ddp-view select { color: var(--jp-ui-font-color1); background: var(--jp-layout-color0); }
.ddp-view .ddp-layer-selector select { font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
</style>"""


def callback(method: F) -> F:
    """Wrap an observer: count its calls and show any exception in the view instead of losing it."""

    @functools.wraps(method)
    def wrapper(self: View, *args: Any, **kwargs: Any) -> Any:
        self.calls[method.__name__] += 1
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - shown to the user in the widget
            self.show_error(exc, method.__name__)
            return None

    return wrapper  # type: ignore[return-value]


def interaction(method: F) -> F:
    """Wrap a handler of a user interaction: ignored while the view updates itself (no echo)."""

    @functools.wraps(method)
    def wrapper(self: View, *args: Any, **kwargs: Any) -> Any:
        if self._syncing:
            return None
        self.calls[method.__name__] += 1
        try:
            with self.selection.batch():  # one click: one generation, however many traits it sets
                return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            self.show_error(exc, method.__name__)
            return None

    return wrapper  # type: ignore[return-value]


def note_html(text: str, kind: str = "note") -> str:
    return f'<div style="{FONT} color:{NOTE_COLORS[kind]}; line-height:1.3">{text}</div>'


def drawn_html(view: str, generation: int) -> str:
    """The hidden mark a view keeps in the page: ``<span class="ddp-drawn" data-ddp-view="SpectrumPlot"
    data-ddp-drawn="17">``, the Selection generation whose change it has drawn. A browser waits for a
    click's result with e.g. ``[...document.querySelectorAll('.ddp-explorer [data-ddp-drawn]')]
    .every(e => +e.dataset.ddpDrawn >= g)``, g being the generation read before the click plus one."""
    return f'<span class="ddp-drawn" data-ddp-view="{view}" data-ddp-drawn="{int(generation)}"></span>'


def esc(text: Any) -> str:
    return html.escape(str(text))


class View(widgets.VBox):
    """Base of the linked views: a VBox holding the view's widgets and an error area.

    Subclasses observe the selection with ``self.selection.observe(self._on_x, names=[...])``, decorate
    observers with `callback` and user-interaction handlers with `interaction`, and wrap their own
    updates of widgets in ``with self._sync():`` so that the widgets' change events are not echoed back
    into the selection.
    """

    def __init__(self, selection: Selection | None, **kwargs: Any) -> None:
        if selection is not None and not isinstance(selection, Selection):
            raise ViewArgumentError(
                f"selection must be a ddp_widgets.Selection, got {type(selection).__name__}: "
                "build one with ddp_widgets.Selection.for_analysis(analysis)"
            )
        self.selection = selection if selection is not None else Selection()
        self.calls: Counter[str] = Counter()  # observer name -> number of calls (tests check no loops)
        self.last_error: BaseException | None = None
        self.last_traceback: str = ""
        self._syncing = 0
        self._watching: list[tuple[Callable[..., Any], list[str]]] = []
        self.errors = widgets.Output(layout=widgets.Layout(max_height="120px", overflow="auto"))
        self.export_button = widgets.Button(
            description="export figures",
            icon="download",
            tooltip="write this view's figures as SVG, PNG and PDF into the folder",
            layout=widgets.Layout(width="auto"),
        )
        self.export_folder = widgets.Text(
            value="figures",
            description="to",
            layout=widgets.Layout(width="180px"),
            style={"description_width": "20px"},
        )
        self.export_note = widgets.HTML("")
        self.export_bar = widgets.HBox(
            [self.export_button, self.export_folder, self.export_note],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.export_button.on_click(self._on_export)
        self._snapshot_handle: Any = None
        # which selection generation this view has drawn, as data-ddp-drawn in the page (see drawn_html);
        # a container showing several views (the Explorer) publishes all their marks in one message instead
        self.publish_mark = True
        self.drawn = widgets.HTML(
            drawn_html(type(self).__name__, self.selection.generation), layout=widgets.Layout(display="none")
        )
        self.theme_style = widgets.HTML(THEME_CSS, layout=widgets.Layout(display="none"))
        kwargs.setdefault("layout", widgets.Layout(min_width="0"))
        super().__init__(**kwargs)
        self.observe(self._keep_drawn_mark, names="children")
        self._keep_drawn_mark({"new": self.children})
        self._watch(self._mark_drawn, ["generation"])
        # a DOM class per view, e.g. "ddp-spectrumplot", for styling and browser tests
        self.add_class(f"ddp-{type(self).__name__.lower()}")
        self.add_class("ddp-view")
        self.add_class(LIVE_CLASS)

    def _keep_drawn_mark(self, change: Any) -> None:
        missing = [w for w in (self.theme_style, self.drawn) if w not in change["new"]]
        if missing:
            self.children = (*change["new"], *missing)

    def _mark_drawn(self, change: Any) -> None:
        """Runs after every observer of a selection change (Selection.batch): this view has drawn it."""
        if self.publish_mark:
            self.drawn.value = drawn_html(type(self).__name__, change["new"])

    def _watch(self, handler: Callable[..., Any], names: list[str]) -> None:
        """Observe the named selection traits (only those) with `handler`."""
        self.selection.observe(handler, names=names)
        self._watching.append((handler, names))

    @contextlib.contextmanager
    def _sync(self, *hold: widgets.Widget) -> Iterator[None]:
        """Update widgets without echoing into the selection; batch each widget's changes (hold_sync)."""
        self._syncing += 1
        try:
            with contextlib.ExitStack() as stack:
                for w in hold:
                    stack.enter_context(w.hold_sync())
                yield
        finally:
            self._syncing -= 1

    # -- figures, settings, snapshot -----------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The view's current content as publication figures (name -> matplotlib Figure)."""
        return {}

    def snapshot_figures(self) -> dict[str, Any]:
        """What the static snapshot shows (default: the figures)."""
        return self.figures()

    def save_figures(self, folder: str | Path, formats: Sequence[str] = ("svg", "png", "pdf")) -> list[Path]:
        """Write the view's figures into `folder` (one file per figure and format); returns the paths."""
        from .. import figures as figs

        paths: list[Path] = []
        for name, fig in self.figures().items():
            paths += figs.save(fig, Path(folder) / name, formats)
        return paths

    @interaction
    def _on_export(self, button: Any) -> None:
        folder = self.export_folder.value.strip() or "figures"
        paths = self.save_figures(folder)
        self.export_note.value = note_html(f"wrote {len(paths)} files to {esc(folder)}/")

    def settings(self) -> dict[str, Any]:
        """The view's own settings (JSON-ready), as `Explorer.save` stores them."""
        return {}

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        """Restore settings from `settings()`; unknown keys or wrong types raise ViewError."""
        check_settings(type(self).__name__, settings, {})

    def snapshot_html(self) -> str:
        """The static HTML of what the view shows now: title and the figures as inline PNG images."""
        images = [figure_img(fig, alt=name) for name, fig in self.snapshot_figures().items()]
        return snapshot_page(self.snapshot_title(), [("", images)])

    def snapshot_title(self) -> str:
        return f"{type(self).__name__} · {self.selection.layer or 'no layer selected'}"

    def _ipython_display_(self) -> None:
        self._snapshot_handle = display_with_snapshot(
            self, _live_text(self), self.snapshot_html, self.snapshot_state
        )

    def snapshot_state(self) -> str:
        """A summary of what the view shows (selection and settings).

        The snapshot is redrawn when it changes.
        """
        return snapshot_state(self.selection, self.settings())

    def refresh_snapshot(self) -> None:
        """Re-render the static snapshot shown under the view (do it before saving the notebook)."""
        update_snapshot(self._snapshot_handle, _live_text(self), self.snapshot_html)

    # -- errors ----------------------------------------------------------------------------------------
    def show_error(self, exc: BaseException, where: str = "") -> None:
        """Show an exception raised in a callback in the view's error area (and keep it for inspection)."""
        self.last_error = exc
        self.last_traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        prefix = f"{type(self).__name__}" + (f" ({where.strip('_')})" if where else "")
        self.errors.outputs = ()
        # the message first, then the traceback (kept, so that the error can be traced to its line)
        self.errors.append_stderr(f"{prefix}: {type(exc).__name__}: {exc}\n\n{self.last_traceback}")

    def clear_errors(self) -> None:
        if self.errors.outputs:
            self.errors.outputs = ()
        self.last_error = None
        self.last_traceback = ""

    def close(self) -> None:
        """Stop observing the selection, then close the view."""
        for handler, names in getattr(self, "_watching", []):  # none when __init__ raised early
            self.selection.unobserve(handler, names=names)
        self._watching = []
        super().close()


def _live_text(widget: Any) -> str:
    return (
        f"ddp-widgets {type(widget).__name__}: an interactive view that needs a running kernel "
        "(run the cell again); a static snapshot follows"
    )


def safe_name(text: str) -> str:
    """A file-name-safe version of a layer name or label."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "view"


def check_settings(
    view: str, settings: Mapping[str, Any], allowed: Mapping[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """Validate saved settings of a view: known keys with values of the right type."""
    if not isinstance(settings, Mapping):
        raise ViewError(
            f"settings of {view} must be a mapping of names to values, got {type(settings).__name__}"
        )
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ViewError(f"{view} has no setting(s) {unknown}: it knows {sorted(allowed) or 'none'}")
    for key, value in settings.items():
        kind = allowed[key]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise ViewError(f"setting {key!r} of {view} must be a number, not {value!r}")
        if not isinstance(value, kind):
            raise ViewError(
                f"setting {key!r} of {view} must be of type {getattr(kind, '__name__', kind)}, "
                f"not {type(value).__name__} ({value!r})"
            )
    return dict(settings)


def snapshot_state(selection: Selection, settings: Any) -> str:
    return json.dumps([selection.to_dict(), settings], sort_keys=True, default=str)
