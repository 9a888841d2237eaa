"""Publication figures (matplotlib) of what the views show, from the same kernel-side objects.

Each function returns a `matplotlib.figure.Figure` sized for one paper column (3.4 in wide, 8 pt text),
built without pyplot (no global state, no GUI backend). Titles, axis labels and class names are the texts
the views show (ddp_widgets._labels), and the curves come from the same code (ddp_widgets._plotdata), so a
figure and its view agree. matplotlib is imported only when a figure is made.

    from ddp_widgets import figures
    fig = figures.esd(analysis, "features.7")
    fig.savefig("esd.pdf")
    figures.save(fig, "figures/esd_features.7", formats=("svg", "png", "pdf"))
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _labels as L
from ._plotdata import LOG_RANGE, esd_histogram, mp_curve, power_law_line
from .core.errors import ViewError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "COLUMN_WIDTH",
    "FORMATS",
    "class_hypergraph",
    "class_signal",
    "esd",
    "graph_layout",
    "layer_metric",
    "rank_plot",
    "save",
    "singular_filters",
    "top_images",
]

COLUMN_WIDTH = 3.4  # inches: one column of a two-column paper
FORMATS = ("svg", "png", "pdf")
_STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "savefig.dpi": 300,
}
UNFOLDED, MP, PL, SEL, BASE = "#1f77b4", "#ff7f0e", "#d62728", "#d62728", "#7f7f7f"
OVERLAY_COLORS = {"slices": "#2ca02c", "operator": "#9467bd"}


@contextmanager
def _style() -> Any:
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        yield


def _figure(height: float, width: float = COLUMN_WIDTH, **subplots: Any) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(**subplots)


def _positive_floor(values: Iterable[np.ndarray]) -> float:
    positive = [float(v[v > 0].min()) for v in values if v.size and (v > 0).any()]
    return min(positive) / 3.0 if positive else 1e-12


# -- spectra ---------------------------------------------------------------------------------------------
def esd(
    analysis: Any,
    layer: str,
    *,
    log: bool = True,
    overlays: Sequence[str] = (),
    neuron: int | None = None,
    spectra: Mapping[str, Any] | None = None,
) -> Figure:
    """The ESD of λ = σ²/N with the fitted Marchenko–Pastur bulk and the power-law tail line.

    overlays: other spectrum views drawn as lines ("slices", "operator"); neuron: mark its λ.
    spectra: the Spectrum objects to draw (view -> Spectrum), e.g. a SpectrumPlot's; default: computed.
    """
    spectra = dict(spectra) if spectra is not None else {"unfolded": analysis.spectrum(layer)}
    for v in overlays:
        if v not in spectra:
            spectra[v] = analysis.spectrum(layer, view=v)
    spec = spectra["unfolded"]
    with _style():
        fig, ax = _figure(2.5)
        # as the view: on a log axis at most LOG_RANGE decades below the largest eigenvalue of any view
        top = max(float(np.max(s.eigenvalues)) for s in spectra.values() if s.eigenvalues.size)
        cut = top * 10.0**-LOG_RANGE if log else None
        hists = {v: esd_histogram(s.eigenvalues, log, lo=cut) for v, s in spectra.items()}
        floor = _positive_floor(h[1] for h in hists.values()) if log else 0.0
        for v, (hx, hy) in hists.items():
            hy = np.maximum(hy, floor) if log else hy
            if v == "unfolded":
                ax.fill_between(hx, hy, floor, color=UNFOLDED, alpha=0.35, lw=0, label="unfolded")
                ax.plot(hx, hy, color=UNFOLDED, lw=1.0)
            else:
                ax.plot(hx, hy, color=OVERLAY_COLORS.get(v, BASE), lw=1.0, label=v)
        mx, my = mp_curve(spec, log, floor)
        if mx.size:
            ax.plot(mx, my, color=MP, lw=1.5, label="MP fit")
        px, py = power_law_line(spec, log, floor)
        if px.size:
            ax.plot(
                px,
                py,
                color=PL,
                lw=1.5,
                ls="--",
                label=f"power law (α = {L.fmt(spec.power_law.alpha, '.2f')})",
            )
        if neuron is not None and neuron < spec.eigenvalues.size:
            ax.axvline(
                float(spec.eigenvalues[neuron]),
                color=SEL,
                lw=1.0,
                ls=":",
                label=L.neuron_label(layer, neuron),
            )
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(L.esd_title(spec.power_law.alpha, spec.mp.num_spikes))
        ax.set_xlabel(L.ESD_X)
        ax.set_ylabel(L.DENSITY)
        ax.legend(frameon=False, loc="best")
    return fig


def rank_plot(
    analysis: Any, layer: str, *, log: bool = True, neurons: Sequence[int] = (), spectrum: Any = None
) -> Figure:
    """Singular values σ by SVD neuron index, the MP bulk edge (dashed) and the selected neurons."""
    spec = spectrum if spectrum is not None else analysis.spectrum(layer)
    sv = np.asarray(spec.singular_values, np.float64)
    with _style():
        fig, ax = _figure(2.3)
        y = np.maximum(sv, sv[0] * 1e-7) if log and sv.size else sv
        ax.plot(np.arange(sv.size), y, "o", ms=2.5 if sv.size > 64 else 3.5, color=UNFOLDED, label=L.SIGMA)
        if math.isfinite(spec.mp.lambda_plus) and sv.size:
            edge = math.sqrt(spec.mp.lambda_plus * spec.norm_by)
            ax.axhline(edge, color=MP, lw=1.0, ls="--", label="MP bulk edge")
        chosen = sorted({int(k) for k in neurons if k is not None and 0 <= k < sv.size})
        if chosen:
            ax.plot(chosen, y[chosen], "o", ms=5, mfc="none", mec=SEL, mew=1.2, label="selected")
        if log:
            ax.set_yscale("log")
        ax.set_title(L.rank_title(layer))
        ax.set_xlabel(L.NEURON_AXIS)
        ax.set_ylabel(L.SIGMA)
        ax.legend(frameon=False, loc="upper right")
    return fig


def layer_metric(
    analysis: Any,
    metric: str = "alpha",
    baseline: str = "permuted",
    *,
    layer: str | None = None,
    values: tuple[np.ndarray, np.ndarray] | None = None,
) -> Figure:
    """One metric across the layers in forward order, trained (●) against a baseline (◆).

    values: (trained, baseline) per layer as a LayerMetrics view holds them (NaN: not computed); default:
    computed from the analysis (baseline="none" draws none). layer: the selected layer (a dotted cursor).
    """
    names = list(analysis.names)
    if values is None:
        trained = np.array([_number(analysis.layer_metrics(n).get(metric)) for n in names])
        base = np.full(len(names), np.nan)
        if baseline != "none":
            base = np.array([_number(analysis.baseline_metrics(n, baseline).get(metric)) for n in names])
        values = (trained, base)
    trained, base = (np.asarray(v, np.float64) for v in values)
    x = np.arange(len(names))
    with _style():
        fig, ax = _figure(2.6)
        ok, okb = np.isfinite(trained), np.isfinite(base)
        ax.plot(x[ok], trained[ok], "o-", color=UNFOLDED, ms=4, lw=1.0, label="trained")
        if okb.any():
            ax.plot(x[okb], base[okb], "D--", color=BASE, ms=3, lw=1.0, label=f"baseline: {baseline}")
        if layer in names:
            ax.axvline(names.index(layer), color=SEL, lw=1.0, ls=":", label="selected layer")
        ax.set_xticks(
            x, names, rotation=-30 if len(names) <= 14 else 90, ha="left" if len(names) <= 14 else "center"
        )
        ax.set_xlabel(L.METRIC_X)
        ax.set_ylabel(L.metric_axis_label(metric))
        ax.legend(frameon=False, loc="best")
    return fig


def _number(v: Any) -> float:
    return float(v) if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else math.nan


# -- images ----------------------------------------------------------------------------------------------
def _tile_grid(
    tiles: Sequence[np.ndarray],
    captions: Sequence[str],
    title: str,
    columns: int,
    selected: int | None = None,
) -> Figure:
    n = max(len(tiles), 1)
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    width = COLUMN_WIDTH
    with _style():
        fig, axes = _figure(0.25 + rows * (width / cols + 0.14), width, nrows=rows, ncols=cols, squeeze=False)
        for i, ax in enumerate(axes.ravel()):
            ax.set_axis_off()
            if i < len(tiles):
                ax.imshow(tiles[i], interpolation="nearest")
                ax.set_title(
                    captions[i],
                    fontsize=5 if cols > 6 else 6,
                    pad=1.5,
                    color=SEL if i == selected else "black",
                )
                if i == selected:
                    ax.set_axis_on()
                    ax.set_xticks([])
                    ax.set_yticks([])
                    for side in ax.spines.values():
                        side.set_color(SEL)
                        side.set_linewidth(1.5)
        fig.suptitle(title)
    return fig


def singular_filters(
    analysis: Any, layer: str, *, n: int = 16, channels: int = 4, neuron: int | None = None
) -> Figure:
    """The singular filters of the top n singular values, as the SingularVectorView draws them."""
    from .widgets._images import filter_tiles

    tiles, captions, _, _ = filter_tiles(analysis, layer, n=n, channels=channels)
    return _tile_grid(tiles, captions, f"singular filters of {layer}", 8, neuron)


def top_images(
    profile: Any,
    layer: str,
    neuron: int,
    images: Any,
    labels: Any = None,
    *,
    n: int = 8,
    image_index: int | None = None,
) -> Figure:
    """The dataset images with the largest signal of one SVD neuron, captioned with their class names."""
    from .widgets._images import pad_to, render_images

    idx, _ = profile.top_images(layer, neuron, n)
    idx = np.asarray(idx, np.int64)
    idx = idx[idx >= 0]  # fewer images than slots: unused slots hold -1
    tiles = render_images(images, idx, size=1)
    if tiles:
        h, w = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
        tiles = [pad_to(t, h, w) for t in tiles]
    names = [str(c) for c in profile.class_names]
    labs = (
        None if labels is None else np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    )
    captions = [names[int(labs[i])] if labs is not None else f"#{i}" for i in idx]
    hit = [j for j, i in enumerate(idx) if i == image_index]
    return _tile_grid(tiles, captions, L.neuron_label(layer, neuron), 8, hit[0] if hit else None)


# -- classes ---------------------------------------------------------------------------------------------
def class_signal(profile: Any, layer: str, neuron: int, *, class_label: int | None = None) -> Figure:
    """The mean signal of one SVD neuron per class (bars; the selected class in red)."""
    mean = np.nan_to_num(np.asarray(profile.class_mean(layer))[:, neuron])
    names = [str(c) for c in profile.class_names]
    with _style():
        fig, ax = _figure(2.5)
        colors = [SEL if i == class_label else UNFOLDED for i in range(len(names))]
        ax.bar(np.arange(len(names)), mean, color=colors)
        ax.axhline(0.0, color="black", lw=0.6)
        ax.set_xticks(np.arange(len(names)), names, rotation=-35, ha="left")
        ax.set_title(f"{L.CLASS_SIGNAL_TITLE} · {L.neuron_label(layer, neuron)}")
        ax.set_ylabel(L.CLASS_SIGNAL_Y)
    return fig


def class_hypergraph(hypergraph: Any, *, title: str | None = None, seed: int = 0) -> Figure:
    """The class hypergraph in HyperNetX's own drawing (hyperedges as hulls around their classes).

    hypergraph: a ClassHypergraph (`Profile.hypergraph(...)`, or a HypergraphExplorer's `.hypergraph`).
    """
    import hypernetx as hnx
    import networkx as nx

    hnx_graph = hypergraph.to_hypernetx()
    if not len(hnx_graph.edges):
        raise ViewError("the hypergraph has no hyperedges to draw: lower the threshold or raise top_k")
    with _style():
        fig, ax = _figure(3.2)
        hnx.draw(
            hnx_graph,
            ax=ax,
            layout=nx.spring_layout,
            layout_kwargs={"seed": seed},
            node_labels_kwargs={"fontsize": 6},
            edge_labels_kwargs={"fontsize": 6},
        )
        layers = ", ".join(hypergraph.meta.get("layers", []))
        ax.set_title(title or f"class hypergraph · {layers}")
        ax.set_axis_off()
    return fig


def graph_layout(
    nodes: Sequence[Mapping[str, Any]],
    links: Sequence[Mapping[str, Any]],
    selected: Iterable[str] = (),
    *,
    title: str = "",
) -> Figure:
    """A drawn graph as the HypergraphExplorer lays it out (nodes with "id", "label", "x", "y", "color",
    "kind"; links with "source", "target", "width"); selected node ids get a red outline."""
    pos = {n["id"]: (float(n["x"]), -float(n["y"])) for n in nodes}  # screen y grows downwards
    chosen = set(selected)
    with _style():
        fig, ax = _figure(3.0)
        for e in links:
            (x0, y0), (x1, y1) = pos[e["source"]], pos[e["target"]]
            ax.plot([x0, x1], [y0, y1], color="#9aa5b1", lw=0.4 + 0.3 * float(e.get("width", 1.0)), zorder=1)
        for n in nodes:
            x, y = pos[n["id"]]
            marker = "o" if n.get("kind") == "class" else "s"
            edge = SEL if n["id"] in chosen else "#555555"
            ax.scatter(
                [x],
                [y],
                s=36 if n["id"] in chosen else 22,
                marker=marker,
                c=[n.get("color", UNFOLDED)],
                edgecolors=edge,
                linewidths=1.5 if n["id"] in chosen else 0.5,
                zorder=2,
            )
            ax.annotate(
                str(n.get("label", n["id"])),
                (x, y),
                xytext=(0, -7),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize=5,
                zorder=3,
            )
        ax.set_title(title)
        ax.set_axis_off()
        ax.margins(0.08)
    return fig


# -- files -----------------------------------------------------------------------------------------------
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "figure"


def save(fig: Figure, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write `fig` as stem.svg, stem.png, stem.pdf (the chosen formats); returns the paths written."""
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ViewError(f"unknown figure format(s) {bad or list(formats)}: use some of {', '.join(FORMATS)}")
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with _style():  # fonts kept as text in SVG, TrueType in PDF, 300 dpi PNG
        for f in formats:
            path = stem.with_name(_safe(stem.name) + "." + f)
            fig.savefig(path, format=f, bbox_inches="tight")
            paths.append(path)
    return paths
