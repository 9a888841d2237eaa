"""ddp-widgets: the SVD of convolutional weights, explored cell by cell in JupyterLab.

Kernel-side entry points are imported lazily, so `import ddp_widgets` stays cheap and
`ddp_widgets.core` can be used without any UI package.
"""

from __future__ import annotations

from importlib import import_module
from importlib import metadata as _metadata
from typing import Any

try:  # one version number: labextension/package.json, read by hatch when the package is built
    __version__ = _metadata.version("ddp-widgets")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

# public name -> module that defines it
_LAZY = {
    "SpectralAnalysis": "ddp_widgets.analysis",
    "Profiler": "ddp_widgets.profiling",
    "Profile": "ddp_widgets.profiling",
    "Selection": "ddp_widgets.selection",
    "explore": "ddp_widgets.widgets",
    "Explorer": "ddp_widgets.widgets",
    "list_layers": "ddp_widgets.core",
    "decompose": "ddp_widgets.core",
}

__all__ = ["__version__"] + list(_LAZY)


_SUBMODULES = (
    "core",
    "analysis",
    "profiling",
    "selection",
    "widgets",
    "zoo",
    "neurons",
    "figures",
    "session",
)


def __getattr__(name: str) -> Any:
    if (
        name in _SUBMODULES
    ):  # `import ddp_widgets as dw; dw.widgets.SpectrumPlot` works without a second import
        return import_module(f"ddp_widgets.{name}")
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ddp_widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "ddp-widgets"}]
