"""Static snapshots: what a view shows, as HTML with inline PNG images, for notebooks read without a kernel.

How front ends choose what to show (ipywidgets 8.1, JupyterLab 4.6, nbconvert 7.17, read from their sources):
- A widget's display data is {"application/vnd.jupyter.widget-view+json": {model_id}, "text/plain": repr}.
- JupyterLab and Notebook 7 register the widget renderer as *unsafe* with rank -10: for trusted outputs it
  wins over text/html (rank 50); untrusted outputs (a notebook from elsewhere) get the best *safe*
  renderer, i.e. sanitized text/html (no <style>, no inline <svg>; <img src="data:..."> is kept) or
  text/plain. When the model is missing (a fresh kernel, state not saved), the widget renderer shows
  "Error displaying widget: model not found" and never falls back to the bundle's other types.
- nbconvert's HTML exporter (and nbviewer) use the widget view only when the notebook's saved widget state
  holds that model, else the next type (text/html before images before text/plain); the page then needs the
  widget manager from a CDN, so offline it shows nothing. GitHub shows text/html or text/plain.
So a snapshot inside the widget's own bundle would be missed exactly where it is needed most (trusted
notebooks in a fresh kernel, HTML exports with widget state). The snapshot is therefore a second output
beside the widget: text/html with images as data-URI PNGs (which survive sanitizers), preceded by a style
rule that hides it where the live view renders in the same output area (JupyterLab, Notebook 7, nbconvert
pages online, classic notebook). Front ends that drop <style> also cannot render the live widget there.
"""

from __future__ import annotations

import base64
import html
import io
import os
import weakref
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "LIVE_CLASS",
    "STATIC_CLASS",
    "display_with_snapshot",
    "enabled",
    "figure_img",
    "snapshot_page",
    "update_snapshot",
]

LIVE_CLASS, STATIC_CLASS = "ddp-live", "ddp-static"
_GUARD = (
    "<style>"
    f".jp-OutputArea:has(.{LIVE_CLASS}) > .jp-OutputArea-child:has(.{STATIC_CLASS}),"
    f" .output:has(.{LIVE_CLASS}) > .output_area:has(.{STATIC_CLASS}) {{ display: none; }}"
    "</style>"
)
_FONT = "font-family: sans-serif; font-size: 12px; color: #333;"


def figure_img(fig: Any, width: int = 340, dpi: int = 110, alt: str = "") -> str:
    """A matplotlib figure as an <img> with an inline PNG (kept by notebook sanitizers, unlike <svg>)."""
    from ..figures import _style

    buf = io.BytesIO()
    with _style():
        fig.savefig(buf, format="png", dpi=dpi)  # constrained layout already fits; "tight" would draw twice
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
        f'style="width:{width}px; max-width:100%; height:auto; margin:2px; vertical-align:top">'
    )


def snapshot_page(title: str, sections: Sequence[tuple[str, Sequence[str]]], note: str = "") -> str:
    """The static HTML: a title, then per section its heading and images (already rendered to HTML)."""
    parts = [
        f'<div class="{STATIC_CLASS}" style="{_FONT} border:1px solid #ddd; border-radius:4px; padding:6px">',
        f"<div><b>{html.escape(title)}</b> · static snapshot (the live view needs a running kernel)</div>",
    ]
    if note:
        parts.append(f'<div style="color:#555">{html.escape(note)}</div>')
    for heading, images in sections:
        parts.append(
            f'<div style="margin-top:6px"><div style="color:#555">{html.escape(heading)}</div>'
            + "".join(images)
            + "</div>"
        )
    parts.append("</div>")
    return "".join(parts)


def enabled() -> bool:
    """Static snapshots are on unless the environment sets DDP_WIDGETS_SNAPSHOTS=0."""
    return os.environ.get("DDP_WIDGETS_SNAPSHOTS", "1").strip().lower() not in ("0", "false", "no", "off")


def display_with_snapshot(
    widget: Any, text: str, snapshot: Callable[[], str], state: Callable[[], str] | None = None
) -> Any:
    """Display `widget` (live), then its static snapshot as a second output; return the snapshot's handle.

    In IPython the snapshot is rendered right after the cell has run (a one-shot post_run_cell hook), so
    the live view appears first; the output is updated in place, in the same execution. With `state` (a
    summary of what the view shows, e.g. its selection and settings), the snapshot is rendered again after
    any later cell when that summary has changed, so a saved notebook shows what the view showed last.
    Changes made by clicks are caught at the next cell run, or by ``refresh_snapshot()``.
    """
    from IPython.display import display

    bundle = widget._repr_mimebundle_()
    bundle["text/plain"] = text
    display(bundle, raw=True)
    if not enabled():
        return None
    placeholder = {
        "text/plain": f"(static snapshot of: {text}: being rendered)",
        "text/html": f'<div class="{STATIC_CLASS}" style="{_FONT}">rendering the static snapshot …</div>',
    }
    handle = display(placeholder, raw=True, display_id=True)

    def first() -> None:
        update_snapshot(handle, text, snapshot)
        if state is not None:
            _follow(widget, handle, text, snapshot, state)

    _after_cell(first)
    return handle


def _follow(
    widget: Any, handle: Any, text: str, snapshot: Callable[[], str], state: Callable[[], str]
) -> None:
    """After every later cell: re-render the snapshot if `state()` changed (stops when the widget closes)."""
    events = getattr(_shell(), "events", None)
    if events is None:
        return
    alive = weakref.ref(widget)
    last = [state()]

    def check(*args: Any) -> None:
        w = alive()
        if (
            w is None
            or getattr(w, "comm", None) is None
            or getattr(w, "_snapshot_handle", handle) is not handle
        ):
            events.unregister("post_run_cell", check)  # closed, collected, or displayed again elsewhere
            return
        now = state()
        if now != last[0]:
            last[0] = now
            update_snapshot(handle, text, snapshot)

    events.register("post_run_cell", check)


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    return get_ipython()


def _after_cell(fn: Callable[[], None]) -> None:
    """Run `fn` once after the running cell (now, outside IPython)."""
    events = getattr(_shell(), "events", None)
    if events is None:
        fn()
        return

    def once(*args: Any) -> None:
        events.unregister("post_run_cell", once)
        fn()

    events.register("post_run_cell", once)


def _snapshot_bundle(snapshot: Callable[[], str], text: str) -> dict[str, str]:
    try:
        body = snapshot()
    except Exception as exc:  # noqa: BLE001 - a snapshot that fails must not hide the live view
        body = (
            f'<div class="{STATIC_CLASS}" style="{_FONT}">no static snapshot: {html.escape(repr(exc))}</div>'
        )
    return {"text/html": _GUARD + body, "text/plain": f"(static snapshot of: {text})"}


def update_snapshot(handle: Any, text: str, snapshot: Callable[[], str]) -> None:
    """Re-render a displayed snapshot (e.g. before saving the notebook) in place."""
    if handle is not None:
        handle.update(_snapshot_bundle(snapshot, text), raw=True)
