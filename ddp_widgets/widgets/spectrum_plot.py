"""SpectrumPlot (bqplot): a layer's singular values by index and its ESD with the MP and power-law fits."""

from __future__ import annotations

import math
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from .._labels import DENSITY, ESD_X, NEURON_AXIS, SIGMA, esd_title, fmt, rank_title
from .._plotdata import LOG_RANGE, esd_histogram, mp_curve, power_law_line
from ..core.errors import ViewError
from ..core.spectra import VIEWS as SPECTRUM_VIEWS
from ..selection import Selection
from ._axes import TICK_FORMAT, log_ticks, nice_ticks
from ._base import View, callback, check_settings, esc, interaction, note_html, safe_name

__all__ = ["SpectrumPlot", "esd_histogram"]

# the spectrum views of the analysis's registry (core.spectra.VIEWS):
# the first is drawn, the others overlay it
VIEWS: tuple[str, ...] = tuple(SPECTRUM_VIEWS)
_PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
VIEW_COLORS = {v: _PALETTE[i % len(_PALETTE)] for i, v in enumerate(VIEWS)}
MP_COLOR, PL_COLOR, SEL_COLOR = "#ff7f0e", "#d62728", "#d62728"
MARGIN = {"top": 28, "bottom": 40, "left": 54, "right": 12}
TICKS = {"font-size": "10px"}


def _legend(drawn: dict[str, bool]) -> str:
    """The legend of what is drawn now (a hidden overlay or a missing fit is not listed)."""

    def item(color: str, text: str, dash: bool = False, fill: bool = False, dot: bool = False) -> str:
        style = f"border-top:2px {'dashed' if dash else 'solid'} {color}; width:16px; height:0"
        if fill:
            style = f"background:{color}; opacity:0.45; width:12px; height:10px"
        if dot:
            style = (
                f"background:{color}; border:1.5px solid var(--jp-ui-font-color1); "
                "border-radius:50%; width:9px; height:9px"
            )
        return (
            f'<span style="display:inline-flex; align-items:center; gap:4px; margin-right:10px">'
            f'<span style="display:inline-block; {style}"></span>{text}</span>'
        )

    parts = [item(VIEW_COLORS[v], SPECTRUM_VIEWS[v].label, fill=v == VIEWS[0]) for v in VIEWS if drawn.get(v)]
    if drawn.get("mp"):
        parts.append(item(MP_COLOR, "MP (- - edge)"))
    if drawn.get("power_law"):
        parts.append(item(PL_COLOR, "power law", dash=True))
    if drawn.get("selected"):
        parts.append(item(SEL_COLOR, "selected", dot=True))
    return note_html("".join(parts))


class SpectrumPlot(View):
    """Singular values σ by index (click one to select that SVD neuron) and the empirical spectral
    density (ESD) of λ = σ²/N with the fitted Marchenko–Pastur bulk and power-law tail.

    Overlays: the "slices" (WeightWatcher's k×k slices) and "operator" (exact convolution operator)
    views of a conv layer, computed only while their checkbox is on. Observes ``layer``,
    ``neuron`` and ``neurons``.
    """

    def __init__(
        self,
        analysis: Any,
        selection: Selection | None = None,
        *,
        overlays: tuple[str, ...] = (),
        log: bool = True,
        height: str = "260px",
    ) -> None:
        super().__init__(selection)
        bad = set(overlays) - set(VIEWS[1:])
        if bad:
            raise ViewError(f"unknown overlay {sorted(bad)}: use 'slices' and/or 'operator'")
        self.analysis = analysis
        self.spectra: dict[str, Any] = {}  # view -> Spectrum of the current layer
        self.header = widgets.HTML(note_html("no layer selected"))
        self.note = widgets.HTML("")
        box = {"indent": False, "layout": widgets.Layout(width="auto", margin="0 12px 0 0")}
        self.log_sigma = widgets.Checkbox(value=log, description="log σ", **box)
        self.log_esd = widgets.Checkbox(value=log, description="log-log", **box)
        self.log_sigma.tooltip = "σ of the rank plot on a log axis"
        self.log_esd.tooltip = "the ESD on log-log axes (a power-law tail is a straight line)"
        self.overlay = {v: widgets.Checkbox(value=v in overlays, description=v, **box) for v in VIEWS[1:]}
        self._build_marks()
        fig_layout = {"flex": "1 1 240px", "height": height, "min_width": "240px"}
        self.rank_fig = bq.Figure(
            marks=self._rank_marks,
            axes=self._rank_axes,
            fig_margin=MARGIN,
            layout=widgets.Layout(**fig_layout),
            title="singular values",
            title_style={"font-size": "13px"},
            min_aspect_ratio=0.1,
            max_aspect_ratio=10,
            display_toolbar=False,
        )
        self.esd_fig = bq.Figure(
            marks=self._esd_marks,
            axes=self._esd_axes,
            fig_margin=MARGIN,
            layout=widgets.Layout(**fig_layout),
            title="ESD",
            title_style={"font-size": "13px"},
            min_aspect_ratio=0.1,
            max_aspect_ratio=10,
            display_toolbar=False,
        )
        self.rank_fig.add_class("ddp-rank-fig")
        self.esd_fig.add_class("ddp-esd-fig")
        self.points.observe(self._on_points, names="selected")
        self.log_sigma.observe(self._on_scale, names="value")
        self.log_esd.observe(self._on_scale, names="value")
        for cb in self.overlay.values():
            cb.observe(self._on_overlay, names="value")
        self._watch(self._on_layer, ["layer"])
        self._watch(self._on_index, ["neuron", "neurons"])
        self.legend = widgets.HTML(_legend({}), layout=widgets.Layout(margin="0 0 0 8px"))
        # the legend shares the row of the switches (a row of its own left most of it empty)
        controls = widgets.HBox(
            [
                self.log_sigma,
                self.log_esd,
                widgets.HTML(note_html("overlays:"), layout=widgets.Layout(margin="0 6px 0 0")),
                *self.overlay.values(),
                self.legend,
            ],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        figs = widgets.HBox(
            [self.rank_fig, self.esd_fig], layout=widgets.Layout(flex_flow="row wrap", width="100%")
        )
        self.children = [self.header, controls, figs, self.note, self.export_bar, self.errors]
        if self.selection.layer is not None:
            self._on_layer({"new": self.selection.layer})

    # -- marks ---------------------------------------------------------------------------------------
    def _scale(self, log: bool) -> bq.Scale:
        return bq.LogScale() if log else bq.LinearScale()

    def _build_marks(self) -> None:
        """(Re)create scales, marks and axes for the current log/linear choice."""
        old = getattr(self, "points", None)
        sx, sy = bq.LinearScale(), self._scale(self.log_sigma.value)
        self.points = bq.Scatter(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": sx, "y": sy},
            interactions={"click": "select"},
            colors=[VIEW_COLORS["unfolded"]],
            default_size=24,
            stroke_width=0,
            selected_style={"fill": SEL_COLOR, "opacity": 1.0},
            tooltip=bq.Tooltip(fields=["x", "y"], labels=["SVD neuron", "σ"], formats=["d", ".4g"]),
        )
        # the selected SVD neuron(s), unmistakable among thousands of points: a rule and large markers
        self.sel_rule = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": sx, "y": sy},
            colors=[SEL_COLOR],
            stroke_width=1.5,
            opacities=[0.8],
        )
        # (a Lines mark drawing only its markers: the scatter stays the only clickable set of points)
        self.sel_marker = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": sx, "y": sy},
            colors=[SEL_COLOR],
            marker="circle",
            marker_size=160,
            stroke_width=0,
            fill="none",
        )
        if old is not None:
            self.points.selected = old.selected
            old.unobserve(self._on_points, names="selected")
            self.points.observe(self._on_points, names="selected")
        self.edge_line = bq.Lines(
            x=np.zeros(0), y=np.zeros(0), scales={"x": sx, "y": sy}, colors=[MP_COLOR], line_style="dashed"
        )
        self._rank_marks = [self.edge_line, self.sel_rule, self.points, self.sel_marker]
        self._rank_axes = [
            bq.Axis(scale=sx, label=NEURON_AXIS, tick_format="d", tick_style=TICKS),
            bq.Axis(
                scale=sy,
                side="left",
                label=SIGMA,
                tick_format=TICK_FORMAT,
                label_offset="42px",
                tick_style=TICKS,
            ),
        ]
        log = self.log_esd.value
        ex, ey = self._scale(log), self._scale(log)
        self.hist = {
            v: bq.Lines(
                x=np.zeros(0),
                y=np.zeros(0),
                scales={"x": ex, "y": ey},
                colors=[VIEW_COLORS[v]],
                fill="bottom" if v == "unfolded" else "none",
                fill_opacities=[0.35],
                stroke_width=1.5,
                visible=False,
            )
            for v in VIEWS
        }
        self.mp_line = bq.Lines(
            x=np.zeros(0), y=np.zeros(0), scales={"x": ex, "y": ey}, colors=[MP_COLOR], stroke_width=2
        )
        self.pl_line = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": ex, "y": ey},
            colors=[PL_COLOR],
            stroke_width=2,
            line_style="dashed",
        )
        self.sel_line = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": ex, "y": ey},
            colors=[SEL_COLOR],
            stroke_width=1.5,
            line_style="dotted",
        )
        self._esd_marks = [*self.hist.values(), self.mp_line, self.pl_line, self.sel_line]
        self._esd_axes = [
            bq.Axis(scale=ex, label=ESD_X, tick_format=TICK_FORMAT, tick_style=TICKS),
            bq.Axis(
                scale=ey,
                side="left",
                label=DENSITY,
                tick_format=TICK_FORMAT,
                label_offset="42px",
                tick_style=TICKS,
            ),
        ]

    # -- data ----------------------------------------------------------------------------------------
    def _spectrum(self, name: str, view: str) -> Any:
        return self.analysis.spectrum(name, view=view)

    def _update(self, name: str) -> None:
        spec = self._spectrum(name, "unfolded")
        self.spectra = {"unfolded": spec}
        notes = []
        for v, cb in self.overlay.items():
            if cb.value:
                try:
                    self.spectra[v] = self._spectrum(name, v)
                    if self.spectra[v].note:
                        notes.append(f"{v}: {esc(self.spectra[v].note)}")
                except Exception as exc:  # noqa: BLE001 - a view that cannot be computed is a note, not an error
                    notes.append(f"{v}: not available ({esc(exc)})")
        self._draw(name, notes)

    def _draw(self, name: str, notes: list[str]) -> None:
        spec = self.spectra["unfolded"]
        sv = np.asarray(spec.singular_values, np.float64)
        info = self.analysis.info(name)
        log_s, log_e = self.log_sigma.value, self.log_esd.value
        marks = [
            self.points,
            self.sel_rule,
            self.sel_marker,
            self.edge_line,
            self.mp_line,
            self.pl_line,
            self.sel_line,
            *self.hist.values(),
        ]
        scales = [
            self.points.scales["x"],
            self.points.scales["y"],
            self.hist["unfolded"].scales["x"],
            self.hist["unfolded"].scales["y"],
        ]
        # one message per changed widget (hold_sync): marks, scales, axes and titles
        with self._sync(*marks, *scales, *self._rank_axes, *self._esd_axes, self.rank_fig, self.esd_fig):
            y = np.maximum(sv, sv[0] * 1e-7) if log_s and sv.size else sv
            self.points.x, self.points.y = np.arange(sv.size, dtype=np.float64), y
            sx, pad = self.points.scales["x"], max(0.5, 0.02 * sv.size)  # room for the large marker at k = 0
            sx.min, sx.max = -pad, max(sv.size - 1.0, 1.0) + pad
            self.points.default_size = 32 if sv.size <= 64 else 12 if sv.size <= 512 else 6
            self.points.selected = self._highlight(sv.size)
            self._draw_selected_sigma()
            mp = spec.mp
            if math.isfinite(mp.lambda_plus) and sv.size:
                s_edge = math.sqrt(mp.lambda_plus * spec.norm_by)
                self.edge_line.x, self.edge_line.y = (
                    np.array([0.0, sv.size - 1.0]),
                    np.array([s_edge, s_edge]),
                )
            else:
                self.edge_line.x, self.edge_line.y = np.zeros(0), np.zeros(0)
            # on a log axis, show at most LOG_RANGE decades below the largest eigenvalue of any view
            top = max(float(np.max(sp.eigenvalues)) for sp in self.spectra.values() if sp.eigenvalues.size)
            cut = top * 10.0**-LOG_RANGE if log_e else None
            peak, positive, hidden = 0.0, [], []
            for v, mark in self.hist.items():
                if v in self.spectra:
                    ev_v = self.spectra[v].eigenvalues
                    hx, hy = esd_histogram(ev_v, log_e, lo=cut)
                    mark.x, mark.y, mark.visible = hx, hy, hx.size > 0
                    if v == "unfolded" and hy.size:
                        peak = float(hy.max())
                    if (hy > 0).any():
                        positive.append(float(hy[hy > 0].min()))
                    if cut is not None and (ev_v < cut).any():
                        hidden.append(f"{int((ev_v < cut).sum())} {v}")
                else:
                    mark.x, mark.y, mark.visible = np.zeros(0), np.zeros(0), False
            peak = peak or max((float(m.y.max()) for m in self.hist.values() if m.y.size), default=1.0)
            floor = max(min(positive) / 3.0, peak * 1e-6) if positive else peak * 1e-6
            self._fits(spec, log_e, floor)
            ey = self.hist["unfolded"].scales["y"]
            ex = self.hist["unfolded"].scales["x"]
            if log_e:  # overlays higher than the trained ESD are clipped: its shape sets the scale
                for mark in self.hist.values():  # empty bins sit on the floor, not at log(0)
                    if mark.y.size:
                        mark.y = np.maximum(mark.y, floor)
                ey.min, ey.max = floor, max(peak, floor * 10) * 3.0
                shown = [float(m.x.min()) for m in self.hist.values() if m.visible and m.x.size]
                ex.min, ex.max = (min(shown) if shown else cut) / 1.05, top * 1.05
            else:
                ey.min, ey.max = 0.0, max(peak, 1e-12) * 1.15
                ex.min, ex.max = 0.0, top * 1.02
            if hidden:
                notes.append(
                    f"eigenvalues below 10<sup>−{LOG_RANGE}</sup>·λ<sub>max</sub> "
                    f"not drawn ({', '.join(hidden)})"
                )
            self._draw_selected_lambda()
            self._ticks(y, log_s, log_e)
            self.rank_fig.title = rank_title(name)
            self.esd_fig.title = esd_title(spec.power_law.alpha, spec.mp.num_spikes)
        self._draw_legend()
        rows, cols = info.matrix_shape
        grp = f" × {info.groups} groups" if info.groups > 1 else ""
        # α and the number of spikes are in the ESD's title: one line here for the rest
        self.header.value = note_html(
            f"<b>{esc(name)}</b> · {esc(info.kind)} {'×'.join(map(str, info.weight_shape))} "
            f"→ {rows}×{cols}{grp} · "
            f"power law x<sub>min</sub> {fmt(spec.power_law.xmin)}, "
            f"KS {fmt(spec.power_law.ks_distance, '.2f')} · "
            f"MP σ² {fmt(spec.mp.sigma2)}, λ₊ {fmt(spec.mp.lambda_plus)} · Q {fmt(spec.Q)}"
        )
        self.note.value = note_html(" · ".join(notes)) if notes else ""

    def _ticks(self, sigma: np.ndarray, log_s: bool, log_e: bool) -> None:
        """Few, round ticks (bqplot puts one on every unit of each decade of a log axis)."""
        (x_axis, y_axis), (ex_axis, ey_axis) = self._rank_axes, self._esd_axes
        ex, ey = self.hist["unfolded"].scales["x"], self.hist["unfolded"].scales["y"]
        x_axis.tick_values = np.unique(nice_ticks(0, max(sigma.size - 1, 1), 5).round()).astype(float)
        if sigma.size:
            lo, hi = float(sigma.min()), float(sigma.max())
            y_axis.tick_values = log_ticks(lo, hi) if log_s else nice_ticks(lo, hi, 5)
        ex_axis.tick_values = (log_ticks if log_e else nice_ticks)(ex.min, ex.max, 5)
        ey_axis.tick_values = (log_ticks if log_e else nice_ticks)(ey.min, ey.max, 5)

    def _fits(self, spec: Any, log: bool, floor: float) -> None:
        self.mp_line.x, self.mp_line.y = mp_curve(spec, log, floor)
        self.pl_line.x, self.pl_line.y = power_law_line(spec, log, floor)

    def _highlight(self, n: int) -> np.ndarray | None:
        sel = self.selection
        chosen = [i for i in [*sel.neurons, sel.neuron] if i is not None and i < n]
        return np.array(sorted(set(chosen)), dtype=np.int64) if chosen else None

    def _draw_legend(self) -> None:
        drawn = {v: bool(m.visible and m.x.size) for v, m in self.hist.items()}
        drawn.update(
            mp=bool(self.mp_line.x.size),
            power_law=bool(self.pl_line.x.size),
            selected=bool(self.sel_marker.x.size),
        )
        legend = _legend(drawn)
        if legend != self.legend.value:
            self.legend.value = legend

    def _draw_selected_sigma(self) -> None:
        """A vertical rule at the focused SVD neuron and large markers on every selected one."""
        y = np.asarray(self.points.y, np.float64)
        chosen = self._highlight(y.size)
        i = self.selection.neuron
        if chosen is None or not y.size:
            self.sel_marker.x, self.sel_marker.y = np.zeros(0), np.zeros(0)
        else:
            self.sel_marker.x, self.sel_marker.y = chosen.astype(np.float64), y[chosen]
        if i is None or i >= y.size:
            self.sel_rule.x, self.sel_rule.y = np.zeros(0), np.zeros(0)
        else:
            self.sel_rule.x, self.sel_rule.y = (
                np.array([i, i], np.float64),
                np.array([float(y.min()), float(y.max())]),
            )

    def _draw_selected_lambda(self) -> None:
        spec = self.spectra.get("unfolded")
        i = self.selection.neuron
        ey = self.hist["unfolded"].scales["y"]
        if spec is None or i is None or i >= spec.eigenvalues.size or ey.max is None:
            self.sel_line.x, self.sel_line.y = np.zeros(0), np.zeros(0)
            return
        lam = float(spec.eigenvalues[i])
        self.sel_line.x, self.sel_line.y = np.array([lam, lam]), np.array([ey.min or 0.0, ey.max])

    # -- figures and settings ------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The rank plot and the ESD of the selected layer, as shown (scales, overlays, selected neurons)."""
        name, sel = self.selection.layer, self.selection
        if name is None or "unfolded" not in self.spectra:
            return {}
        from .. import figures as figs

        stem = f"spectrum_{safe_name(name)}"
        return {
            f"{stem}_rank": figs.rank_plot(
                self.analysis,
                name,
                log=self.log_sigma.value,
                neurons=[*sel.neurons, sel.neuron],
                spectrum=self.spectra["unfolded"],
            ),
            f"{stem}_esd": figs.esd(
                self.analysis, name, log=self.log_esd.value, neuron=sel.neuron, spectra=self.spectra
            ),
        }

    def settings(self) -> dict[str, Any]:
        return {
            "log_sigma": self.log_sigma.value,
            "log_esd": self.log_esd.value,
            "overlays": [v for v, cb in self.overlay.items() if cb.value],
        }

    def apply_settings(self, settings: Any) -> None:
        s = check_settings("SpectrumPlot", settings, {"log_sigma": bool, "log_esd": bool, "overlays": list})
        bad = set(s.get("overlays", [])) - set(VIEWS[1:])
        if bad:
            raise ViewError(
                f"unknown overlay {sorted(bad)} in the SpectrumPlot settings: use 'slices' and/or 'operator'"
            )
        for key in ("log_sigma", "log_esd"):
            if key in s:
                getattr(self, key).value = s[key]
        if "overlays" in s:
            for v, cb in self.overlay.items():
                cb.value = v in s["overlays"]

    # -- selection -> widgets ------------------------------------------------------------------------
    @callback
    def _on_layer(self, change: Any) -> None:
        name = change["new"]
        if name is None:
            self.spectra = {}
            self.header.value = note_html("no layer selected")
            return
        self._update(name)
        self.clear_errors()

    @callback
    def _on_index(self, change: Any) -> None:
        spec = self.spectra.get("unfolded")
        if spec is None:
            return
        with self._sync(self.points, self.sel_line, self.sel_rule, self.sel_marker):
            self.points.selected = self._highlight(spec.singular_values.size)
            self._draw_selected_sigma()
            self._draw_selected_lambda()
        self._draw_legend()

    # -- user interaction -> selection ---------------------------------------------------------------
    @interaction
    def _on_points(self, change: Any) -> None:
        chosen = [] if change["new"] is None else [int(i) for i in np.asarray(change["new"]).ravel()]
        # several points (ctrl-click) go to neurons; the last clicked one is the focus
        self.selection.neurons = chosen if len(chosen) > 1 else []
        self.selection.neuron = chosen[-1] if chosen else None

    @callback
    def _on_scale(self, change: Any) -> None:
        self._build_marks()
        # fill the new marks and axes before the figures show them: their views are then created from
        # the final state, with no update racing the (asynchronous) creation of the views
        if self.selection.layer is not None and self.spectra:
            self._draw(self.selection.layer, [])
        with self._sync(self.rank_fig, self.esd_fig):
            self.rank_fig.marks, self.rank_fig.axes = self._rank_marks, self._rank_axes
            self.esd_fig.marks, self.esd_fig.axes = self._esd_marks, self._esd_axes

    @callback
    def _on_overlay(self, change: Any) -> None:
        if self.selection.layer is not None:
            if change["new"]:
                self.note.value = note_html(f"computing the {esc(change['owner'].description)} spectrum …")
            self._update(self.selection.layer)
