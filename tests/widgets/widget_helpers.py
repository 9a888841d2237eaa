"""Helpers of the widget tests: walk a widget tree, snapshot its synced state."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ipywidgets import Widget
from ipywidgets.widgets.widget import _remove_buffers


def walk(root: Widget) -> list[Widget]:
    """Every widget reachable from `root` through its traits (children, marks, scales, graph, ...)."""
    seen: dict[int, Widget] = {}

    def visit(value: Any) -> None:
        if isinstance(value, Widget):
            if id(value) in seen:
                return
            seen[id(value)] = value
            for name in value.keys:
                visit(getattr(value, name, None))
        elif isinstance(value, (list, tuple)):
            for v in value:
                visit(v)
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)

    visit(root)
    return list(seen.values())


def widget_state(root: Widget) -> dict[str, str]:
    """model_id -> JSON of its synced state (buffers by digest), for every widget under `root`."""
    out = {}
    for w in walk(root):
        state, paths, buffers = _remove_buffers(w.get_state())
        digest = [hashlib.sha1(bytes(b)).hexdigest() for b in buffers]
        out[w.model_id] = json.dumps([state, paths, digest], sort_keys=True)
    return out
