"""LayerMetrics (bqplot): one spectral metric across the layers, trained weights against a baseline."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from .._labels import METRICS, metric_axis_label
from ..core.baselines import BASELINES as BASELINE_REGISTRY
from ..core.errors import ViewError
from ..selection import Selection
from ._axes import TICK_FORMAT, nice_ticks
from ._base import View, callback, check_settings, esc, interaction, note_html
from .layer_selector import cached_metrics

__all__ = ["METRICS", "LayerMetrics", "estimated_cost"]

# the baselines of the dropdown: the analysis's registry (core.baselines.BASELINES), and none
BASELINES: dict[str, str] = {**{k: b.label for k, b in BASELINE_REGISTRY.items()}, "none": "no baseline"}
TRAINED, BASE, SEL = "#1f77b4", "#7f7f7f", "#d62728"


def _swatch(color: str, text: str, diamond: bool = False, rule: bool = False) -> str:
    """A legend entry: a drawn symbol (no coloured text, which would be hard to read in one of the themes)."""
    shape = (
        "width:8px; height:8px; transform:rotate(45deg)"
        if diamond
        else "width:0; height:12px; border-left:2px dotted " + color + "; background:none"
        if rule
        else "width:9px; height:9px; border-radius:50%"
    )
    return (
        f'<span style="display:inline-flex; align-items:center; gap:5px; margin-right:12px">'
        f'<span style="display:inline-block; background:{color}; {shape}"></span>{text}</span>'
    )


def _gapped(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A line through the finite values that breaks (NaN) at layers without one. It ends at its last finite
    value: bqplot places a line's label at the last point, and a NaN there is a "translate(x, undefined)"."""
    finite = np.flatnonzero(np.isfinite(y))
    if not finite.size:
        return np.zeros(0), np.zeros(0)
    first, last = finite[0], finite[-1] + 1
    return x[first:last], y[first:last]


def estimated_cost(analysis: Any) -> float:
    """Rough flop count of the singular values of all layers (N·M² per block)."""
    total = 0.0
    for info in analysis.layers.decomposable:
        rows, cols = info.matrix_shape
        n, m = max(rows, cols), min(rows, cols)
        total += info.groups * n * m * m
    return total


class LayerMetrics(View):
    """A metric per layer in forward order, trained (blue) against a baseline (grey); click a point to
    select the layer. The metric and baseline are chosen from dropdowns.

    compute: "auto" computes every layer when cheap (small models), otherwise on the button's click;
    "now" computes at once; "lazy" waits for the button. Observes ``layer``.
    """

    def __init__(
        self,
        analysis: Any,
        selection: Selection | None = None,
        *,
        metric: str = "alpha",
        baseline: str = "permuted",
        compute: str = "auto",
        auto_limit: float = 3e9,
        height: str = "280px",
    ) -> None:
        super().__init__(selection)
        if metric not in METRICS:
            raise ViewError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        if baseline not in BASELINES:
            raise ViewError(f"unknown baseline {baseline!r}: use one of {', '.join(BASELINES)}")
        if compute not in ("auto", "now", "lazy"):
            raise ViewError(f"compute must be 'auto', 'now' or 'lazy', not {compute!r}")
        self.analysis = analysis
        self.names: list[str] = list(analysis.names)
        self.on_computed: list[Callable[[], None]] = []  # e.g. the layer selector refreshing its badges
        # no descriptions: the options say what they are (one row of controls in a narrow panel)
        self.metric = widgets.Dropdown(
            options=[(v, k) for k, v in METRICS.items()],
            value=metric,
            tooltip="metric",
            layout=widgets.Layout(width="165px"),
        )
        self.baseline = widgets.Dropdown(
            options=[(v, k) for k, v in BASELINES.items()],
            value=baseline,
            tooltip="baseline",
            layout=widgets.Layout(width="135px"),
        )
        self.compute_button = widgets.Button(
            description="compute all",
            icon="play",
            tooltip="compute every layer's metrics",
            layout=widgets.Layout(width="auto"),
        )
        self.progress = widgets.IntProgress(
            min=0, max=max(1, len(self.names)), layout=widgets.Layout(width="140px", display="none")
        )
        self.note = widgets.HTML("")
        xs, ys = bq.LinearScale(min=-0.5, max=len(self.names) - 0.5), bq.LinearScale()
        tooltip = bq.Tooltip(fields=["name", "y"], labels=["layer", "value"], formats=["", ".4g"])
        self.trained = bq.Scatter(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": xs, "y": ys},
            colors=[TRAINED],
            default_size=48,
            interactions={"click": "select"},
            tooltip=tooltip,
            selected_style={"fill": SEL, "stroke": "black", "stroke-width": 2},
            names=[],
            display_names=False,
            names_unique=False,
        )
        self.trained_line = bq.Lines(
            x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": ys}, colors=[TRAINED], stroke_width=1.5
        )
        self.base = bq.Scatter(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": xs, "y": ys},
            colors=[BASE],
            default_size=32,
            marker="diamond",
            names=[],
            display_names=False,
            names_unique=False,
            tooltip=bq.Tooltip(fields=["name", "y"], labels=["layer", "baseline"], formats=["", ".4g"]),
        )
        self.base_line = bq.Lines(
            x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": ys}, colors=[BASE], line_style="dashed"
        )
        self.cursor = bq.Lines(
            x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": ys}, colors=[SEL], line_style="dotted"
        )
        # layer names on the axis (every k-th of many layers; all of them on hover)
        every = max(1, math.ceil(len(self.names) / 14))
        shown = np.arange(0, len(self.names), every)
        bottom = 20 + 3 * min(24, max(len(n) for n in self.names))  # room for the rotated names
        # (an empty label gets no position in bqplot's front end: "translate(x, undefined)" errors)
        x_axis = bq.Axis(
            scale=xs,
            label="layers",
            label_offset=f"{bottom - 4}px",
            tick_values=shown.astype(float),
            tick_labels={int(i): self.names[i] for i in shown},
            tick_rotate=-30,
            tick_style={"font-size": "10px", "text-anchor": "end"},
        )
        self.y_axis = bq.Axis(
            scale=ys,
            side="left",
            label=metric_axis_label(metric),
            tick_format=TICK_FORMAT,
            label_offset="44px",
            tick_style={"font-size": "10px"},
        )
        self.figure = bq.Figure(
            marks=[self.cursor, self.base_line, self.base, self.trained_line, self.trained],
            axes=[x_axis, self.y_axis],
            title="",
            fig_margin={"top": 12, "bottom": bottom + 10, "left": 60, "right": 36},
            layout=widgets.Layout(width="100%", height=height),
            min_aspect_ratio=0.1,
            max_aspect_ratio=10,
            display_toolbar=False,
        )
        self.trained.observe(self._on_click, names="selected")
        self.metric.observe(self._on_choice, names="value")
        self.baseline.observe(self._on_choice, names="value")
        self.compute_button.on_click(self._on_compute)
        self._watch(self._on_layer, ["layer"])
        controls = widgets.HBox(
            [self.metric, self.baseline, self.compute_button, self.progress],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.legend = widgets.HTML("")
        self.children = [
            widgets.HTML(note_html("<b>Metrics across layers</b>: click a point to select the layer")),
            controls,
            self.figure,
            self.legend,
            self.note,
            self.export_bar,
            self.errors,
        ]
        if compute == "now" or (compute == "auto" and estimated_cost(analysis) <= auto_limit):
            self.compute_all()
        else:
            self.redraw()

    # -- data ----------------------------------------------------------------------------------------
    def _trained(self, name: str) -> dict[str, Any] | None:
        return cached_metrics(self.analysis, name)

    def _base(self, name: str, baseline: str) -> dict[str, Any] | None:
        return self.analysis.cached_baseline_metrics(name, baseline)

    def compute_all(self) -> None:
        """Compute the trained (and baseline) metrics of every layer, with a progress bar."""
        baseline = self.baseline.value
        todo = [
            n
            for n in self.names
            if self._trained(n) is None or (baseline != "none" and self._base(n, baseline) is None)
        ]
        if todo:
            self.progress.max, self.progress.value = len(todo), 0
            self.progress.layout.display = None
            self.note.value = note_html(f"computing {len(todo)} layers …")
            try:
                for n in todo:
                    self.analysis.layer_metrics(n)
                    if baseline != "none":
                        self.analysis.baseline_metrics(n, baseline)
                    self.progress.value += 1
            finally:
                self.progress.layout.display = "none"
        self.redraw()
        for fn in self.on_computed:
            fn()

    def values(self, metric: str | None = None, baseline: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(trained, baseline) values per layer in forward order; NaN where not computed (yet)."""
        metric = metric or self.metric.value
        baseline = baseline or self.baseline.value

        def get(row: dict[str, Any] | None) -> float:
            v = None if row is None else row.get(metric)
            return float(v) if isinstance(v, (int, float, np.number)) and v is not None else math.nan

        trained = np.array([get(self._trained(n)) for n in self.names])
        base = np.array(
            [get(self._base(n, baseline)) if baseline != "none" else math.nan for n in self.names]
        )
        return trained, base

    # -- drawing -------------------------------------------------------------------------------------
    def redraw(self) -> None:
        trained, base = self.values()
        x = np.arange(len(self.names), dtype=np.float64)
        ok, okb = np.isfinite(trained), np.isfinite(base)
        self._shown = np.flatnonzero(ok)  # scatter position -> layer index
        ys = self.trained.scales["y"]
        with self._sync(
            self.trained, self.trained_line, self.base, self.base_line, self.y_axis, ys, self.cursor
        ):
            self.trained.x, self.trained.y = x[ok], trained[ok]
            self.trained.names = [self.names[i] for i in self._shown]
            # NaN where a layer has no value: the line breaks there instead of bridging it
            # (no line at all without a value: an all-NaN line gives the front end no domain)
            self.trained_line.x, self.trained_line.y = _gapped(x, trained)
            self.base.x, self.base.y = x[okb], base[okb]
            self.base.names = [self.names[i] for i in np.flatnonzero(okb)]
            self.base_line.x, self.base_line.y = _gapped(x, base)
            self.y_axis.label = metric_axis_label(self.metric.value)
            finite = np.concatenate([trained[ok], base[okb]])
            if finite.size:
                lo, hi = float(finite.min()), float(finite.max())
                pad = 0.06 * (hi - lo) if hi > lo else max(abs(hi) * 0.1, 0.5)
                ys.min, ys.max = lo - pad, hi + pad
                self.y_axis.tick_values = nice_ticks(ys.min, ys.max, 5)
            else:
                self.y_axis.tick_values = None
            self._draw_cursor()
        legend = [_swatch(TRAINED, "trained")] if ok.any() else []
        if okb.any():
            legend.append(_swatch(BASE, esc(BASELINES[self.baseline.value]), diamond=True))
        if self.cursor.x.size:
            legend.append(_swatch(SEL, "selected layer", rule=True))
        self.legend.value = note_html("".join(legend)) if legend else ""
        missing = sum(self._trained(n) is None for n in self.names)
        undefined = int((~ok).sum()) - missing
        has_base = self.metric.value in list(METRICS)[:6]
        need_base = self.baseline.value != "none" and has_base and not okb.all()
        notes = []
        if missing:
            notes.append(f"{missing} of {len(self.names)} layers not analysed yet: press “compute all”")
        elif need_base and any(self._base(n, self.baseline.value) is None for n in self.names):
            notes.append("baseline not computed yet: press “compute all”")
        else:
            need_base = False
        if undefined:
            notes.append(f"{undefined} layer(s) without a value (e.g. too few eigenvalues for a fit)")
        if self.baseline.value != "none" and not has_base:
            notes.append(f"no baseline for {esc(METRICS[self.metric.value])}")
        self.compute_button.disabled = not (missing or need_base)
        self.note.value = note_html(" · ".join(notes)) if notes else ""

    def _draw_cursor(self) -> None:
        name = self.selection.layer
        if name in self.names:
            i = self.names.index(name)
            pos = np.flatnonzero(self._shown == i)
            self._set_selected(pos if pos.size else None)
            ys = self.trained.scales["y"]
            if ys.min is not None and ys.max is not None:
                self.cursor.x, self.cursor.y = np.array([i, i], float), np.array([ys.min, ys.max], float)
                return
        else:
            self._set_selected(None)
        self.cursor.x, self.cursor.y = np.zeros(0), np.zeros(0)

    def _set_selected(self, pos: np.ndarray | None) -> None:
        """Write the scatter's selection only when it differs.

        Each write restyles every point in the page.
        """
        old = self.trained.selected
        same = (old is None and pos is None) or (
            old is not None and pos is not None and np.array_equal(np.asarray(old).ravel(), pos)
        )
        if not same:
            self.trained.selected = pos

    # -- figures and settings ------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The metric across layers as drawn now (same values, baseline and selected layer)."""
        from .. import figures as figs

        metric, baseline = self.metric.value, self.baseline.value
        fig = figs.layer_metric(
            self.analysis, metric, baseline, layer=self.selection.layer, values=self.values()
        )
        return {f"metrics_{metric}_{baseline}": fig}

    def settings(self) -> dict[str, Any]:
        return {"metric": self.metric.value, "baseline": self.baseline.value}

    def apply_settings(self, settings: Any) -> None:
        s = check_settings("LayerMetrics", settings, {"metric": str, "baseline": str})
        if s.get("metric", "alpha") not in METRICS:
            raise ViewError(
                f"unknown metric {s['metric']!r} in the LayerMetrics settings: "
                f"use one of {', '.join(METRICS)}"
            )
        if s.get("baseline", "none") not in BASELINES:
            raise ViewError(
                f"unknown baseline {s['baseline']!r} in the LayerMetrics settings: "
                f"use one of {', '.join(BASELINES)}"
            )
        for key in ("metric", "baseline"):
            if key in s:
                getattr(self, key).value = s[key]

    # -- selection -> widgets ------------------------------------------------------------------------
    @callback
    def _on_layer(self, change: Any) -> None:
        name = change["new"]
        trained = self._trained(name) if name in self.names else None
        shown = name in self.names and self.names.index(name) in getattr(self, "_shown", [])
        if trained is not None and not shown:
            self.redraw()  # another view analysed it: add its point
        else:
            with self._sync(self.trained, self.cursor):
                self._draw_cursor()

    # -- user interaction -> selection ---------------------------------------------------------------
    @interaction
    def _on_click(self, change: Any) -> None:
        new = change["new"]
        chosen = [] if new is None else [int(i) for i in np.asarray(new).ravel()]
        if chosen and chosen[-1] < len(self._shown):
            self.selection.layer = self.names[int(self._shown[chosen[-1]])]
        elif not chosen and self.selection.layer in self.names:
            with self._sync(self.trained):  # a click on the background: keep showing the selected layer
                self._draw_cursor()

    @callback
    def _on_choice(self, change: Any) -> None:
        if (
            change["owner"] is self.baseline
            and change["new"] != "none"
            and all(self._trained(n) is not None for n in self.names)
        ):
            self.compute_all()
        else:
            self.redraw()

    @callback
    def _on_compute(self, button: Any) -> None:
        self.compute_all()
