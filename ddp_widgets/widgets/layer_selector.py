"""LayerSelector: the model's decomposable layers in forward order, with kind, shape and a badge."""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets

from ..core.errors import ViewError
from ..selection import Selection
from ._base import View, callback, check_settings, esc, interaction, note_html

__all__ = ["LayerSelector", "cached_metrics"]


def cached_metrics(analysis: Any, name: str) -> dict[str, Any] | None:
    """The layer's metrics if the analysis has already computed them for its current weights.

    Never computes them.
    """
    return analysis.cached_metrics(name)


def _shape(shape: Any) -> str:
    return "×".join(str(s) for s in shape)


def _badge(metrics: dict[str, Any] | None, badge: str) -> str:
    if metrics is None:
        return ""
    alpha, sr = metrics.get("alpha", math.nan), metrics.get("stable_rank", math.nan)
    if badge in ("alpha", "auto") and isinstance(alpha, float) and math.isfinite(alpha):
        return f"α={alpha:.2f}"
    if isinstance(sr, float) and math.isfinite(sr):
        return f"sr={sr:.1f}"
    return ""


class LayerSelector(View):
    """All decomposable layers (forward order) as a list; picking one sets ``selection.layer``.

    Each entry shows the layer's name, kind and weight shape, and a badge once the layer has been
    analysed: its power-law exponent α (``badge="alpha"``/``"auto"``) or its stable rank ("sr",
    ``badge="stable_rank"``). Badges are computed for the selected layer when it is selected; call
    `refresh_badges` after analysing all layers (e.g. ``analysis.metrics()``).
    """

    def __init__(
        self,
        analysis: Any,
        selection: Selection | None = None,
        *,
        badge: str = "auto",
        rows: int = 12,
        option_padding: int = 0,
    ) -> None:
        super().__init__(selection)
        if badge not in ("auto", "alpha", "stable_rank"):
            raise ViewError(f"badge must be 'auto', 'alpha' or 'stable_rank', not {badge!r}")
        self.analysis = analysis
        self.badge = badge
        self.names: list[str] = list(analysis.names)
        self._w_index = len(str(len(self.names) - 1))
        self._w_name = max(len(n) for n in self.names)
        self.select = widgets.Select(
            options=self._options(),
            value=self.selection.layer if self.selection.layer in self.names else None,
            rows=max(2, min(rows, len(self.names))),
            layout=widgets.Layout(width="100%"),
        )
        self.select.add_class("ddp-layer-selector")
        n_other = len(analysis.layers) - len(self.names)
        other = f", {n_other} listed but not decomposable" if n_other else ""
        # taller entries where few layers would leave the list mostly empty (the Explorer sets it)
        pad = int(option_padding)
        style = (
            f"<style>.ddp-layerselector.ddp-pad-{pad} option "
            f"{{ padding-top: {pad}px; padding-bottom: {pad}px; }}</style>"
            if pad > 0
            else ""
        )
        if pad > 0:
            self.add_class(f"ddp-pad-{pad}")
        self.header = widgets.HTML(
            style
            + note_html(
                f"<b>Layers</b> ({len(self.names)}{other}, forward order): "
                "kind, weight shape, α or stable rank sr"
            )
        )
        self.select.observe(self._on_pick, names="value")
        self._watch(self._on_layer, ["layer"])
        self.children = [self.header, self.select, self.errors]
        if self.selection.layer in self.names:  # the selected layer's badge from the start
            self._on_layer({"new": self.selection.layer})

    # -- labels ----------------------------------------------------------------------------------------
    def label(self, name: str) -> str:
        info = self.analysis.info(name)
        i = self.names.index(name)
        grp = f" g{info.groups}" if info.groups > 1 else ""
        badge = _badge(cached_metrics(self.analysis, name), self.badge)
        # aligned columns (monospace): index, name, badge, then kind and shape, which may be cut off
        text = (
            f"{i:>{self._w_index}} {name:<{self._w_name}}  {badge:<7}  "
            f"{info.kind} {_shape(info.weight_shape)}{grp}"
        )
        return text.replace(" ", "\u00a0")  # a <select> collapses runs of spaces: keep the columns aligned

    def _options(self) -> list[tuple[str, str]]:
        return [(self.label(n), n) for n in self.names]

    def refresh_badges(self) -> None:
        """Re-read the analysed layers' metrics into the labels (keeps the selected layer)."""
        options = self._options()
        if list(options) == list(self.select.options):
            return
        with self._sync(self.select):
            value = self.select.value
            self.select.options = options
            self.select.value = value

    def settings(self) -> dict[str, Any]:
        return {"badge": self.badge}

    def apply_settings(self, settings: Any) -> None:
        s = check_settings("LayerSelector", settings, {"badge": str})
        if s.get("badge", "auto") not in ("auto", "alpha", "stable_rank"):
            raise ViewError(f"badge must be 'auto', 'alpha' or 'stable_rank', not {s['badge']!r}")
        if "badge" in s:
            self.badge = s["badge"]
            self.refresh_badges()

    def snapshot_html(self) -> str:
        """The layer list as text (the badges as computed so far; the selected layer in bold)."""
        rows = []
        for n in self.names:
            weight = "bold" if n == self.selection.layer else "normal"
            rows.append(f'<div style="font-weight:{weight}">{esc(self.label(n))}</div>')
        return (
            '<div class="ddp-static" style="font-family:monospace; font-size:11px; white-space:pre">'
            + "".join(rows)
            + "</div>"
        )

    def on_metrics_computed(self) -> None:
        """Called by the Explorer when another view has computed layer metrics."""
        self.refresh_badges()

    # -- selection <-> widget --------------------------------------------------------------------------
    @interaction
    def _on_pick(self, change: Any) -> None:
        if change["new"] is not None:
            self.selection.layer = change["new"]

    @callback
    def _on_layer(self, change: Any) -> None:
        name = change["new"]
        if name is not None and name in self.names and cached_metrics(self.analysis, name) is None:
            self.analysis.layer_metrics(name)  # one layer: values and fits, cached for the other views
        with self._sync(self.select):
            if name is not None and name in self.names:
                self.refresh_badges()
            self.select.value = name if name in self.names else None
