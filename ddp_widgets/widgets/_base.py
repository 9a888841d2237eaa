"""What every view shares: the Selection it observes, an echo guard, call counts, visible errors."""

from __future__ import annotations

import contextlib
import functools
import html
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import ipywidgets as widgets

from ..core.errors import ViewArgumentError
from ..selection import Selection

F = TypeVar("F", bound=Callable[..., Any])

# a readable sans-serif stack used by every HTML snippet of the views
FONT = "font-family: var(--jp-ui-font-family, sans-serif); font-size: 12px;"


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
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            self.show_error(exc, method.__name__)
            return None

    return wrapper  # type: ignore[return-value]


def note_html(text: str, kind: str = "note") -> str:
    color = {"note": "#555", "warn": "#8a5a00", "error": "#b00020"}[kind]
    return f'<div style="{FONT} color:{color}; line-height:1.3">{text}</div>'


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
            raise ViewArgumentError(f"selection must be a ddp_widgets.Selection, got {type(selection).__name__}: "
                                    "build one with ddp_widgets.Selection.for_analysis(analysis)")
        self.selection = selection if selection is not None else Selection()
        self.calls: Counter[str] = Counter()  # observer name -> number of calls (tests check no loops)
        self.last_error: BaseException | None = None
        self.last_traceback: str = ""
        self._syncing = 0
        self._watching: list[tuple[Callable[..., Any], list[str]]] = []
        self.errors = widgets.Output(layout=widgets.Layout(max_height="120px", overflow="auto"))
        kwargs.setdefault("layout", widgets.Layout(min_width="0"))
        super().__init__(**kwargs)
        # a DOM class per view, e.g. "ddp-spectrumplot", for styling and browser tests
        self.add_class(f"ddp-{type(self).__name__.lower()}")

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
        for handler, names in self._watching:
            self.selection.unobserve(handler, names=names)
        self._watching = []
        super().close()
