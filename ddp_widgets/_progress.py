"""Progress bars that leave no trace in a saved notebook.

tqdm's notebook bars are widgets. Closed or not, their output stays in the notebook and shows as a stuck
"HBox(children=(HTML(value='profiling')…" line (or "model not found") once the kernel is gone. Inside a
kernel, `transient_progress` captures whatever is displayed meanwhile in an Output widget shown for the
duration, then turns that output into one plain line and closes the widget. Elsewhere it does nothing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Self

__all__ = ["transient_progress"]


class transient_progress:  # used like a function: ``with transient_progress(progress): ...``
    """Show progress in a temporary output (inside a kernel); `close()` (or leaving the with) ends it."""

    def __init__(self, enabled: bool = True, done: str = "done") -> None:
        self._out: Any = None
        self._handle: Any = None
        self._done = done
        self._start = time.perf_counter()
        if not enabled:
            return
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython comes with ipywidgets
            return
        shell = get_ipython()
        if shell is None or not hasattr(shell, "kernel"):
            return
        import ipywidgets
        from IPython.display import display

        self._out = ipywidgets.Output()
        self._handle = display(self._out, display_id=True)
        self._out.__enter__()

    def close(self) -> None:
        if self._out is None:
            return
        out, self._out = self._out, None
        out.__exit__(None, None, None)
        if self._handle is not None:
            self._handle.update(
                {"text/plain": f"{self._done} in {time.perf_counter() - self._start:.1f} s"}, raw=True
            )
        out.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
