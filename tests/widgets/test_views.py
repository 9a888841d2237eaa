"""Each view on its own: what it draws, its controls, and its helpers."""

from __future__ import annotations

from typing import Any

import bqplot as bq
import numpy as np
import pytest
import torch

import ddp_widgets as dw
from ddp_widgets.widgets import (
    HypergraphExplorer,
    LayerMetrics,
    LayerSelector,
    SingularVectorView,
    SpectrumPlot,
)
from ddp_widgets.widgets._images import diverging, render_filter, render_images
from ddp_widgets.widgets.hypergraph_explorer import graph_elements
from ddp_widgets.widgets.spectrum_plot import esd_histogram


@pytest.fixture
def sel(analysis: Any, profile: Any) -> dw.Selection:
    return dw.Selection.for_analysis(analysis, profile, layer=analysis.names[1], neuron=0)


# -- SpectrumPlot ------------------------------------------------------------------------------------
@pytest.mark.parametrize("log", [True, False])
def test_esd_histogram_is_a_density_over_all_eigenvalues(log: bool) -> None:
    ev = np.random.default_rng(0).gamma(2.0, size=500)
    x, y = esd_histogram(ev, log)
    edges, dens = x[::2], y[::2]
    widths = x[1::2] - x[::2]
    assert np.isclose(np.sum(dens * widths), 1.0)
    if log:  # log-spaced bins: constant ratio of edges
        ratios = x[1::2] / x[::2]
        assert np.allclose(ratios, ratios[0])
    assert edges.size >= 6


def test_spectrum_plot_draws_fits_and_computes_overlays_only_when_asked(
    analysis: Any, sel: dw.Selection, monkeypatch: pytest.MonkeyPatch
) -> None:
    views: list[str] = []
    original = analysis.spectrum
    monkeypatch.setattr(
        analysis,
        "spectrum",
        lambda name, view="unfolded", **kw: (views.append(view), original(name, view=view, **kw))[1],
    )
    sp = SpectrumPlot(analysis, sel)
    assert "operator" not in views and "slices" not in views
    spec = original(sel.layer)
    assert sp.mp_line.x.size and sp.mp_line.x.max() <= spec.mp.lambda_plus * (1 + 1e-9)
    assert sp.pl_line.x.min() >= spec.power_law.xmin * (1 - 1e-9)
    assert f"{spec.power_law.alpha:.2f}" in sp.esd_fig.title
    # no per-point strings travel (thousands on large layers): the tooltip shows k and σ
    assert sp.points.tooltip.labels == ["SVD neuron", "σ"] and not sp.points.names
    sp.overlay["operator"].value = True
    assert views.count("operator") == 1 and sp.hist["operator"].visible
    sel.layer = analysis.names[0]
    assert views.count("operator") == 2  # follows the layer while on
    sp.overlay["operator"].value = False
    sel.layer = analysis.names[1]
    assert views.count("operator") == 2 and not sp.hist["operator"].visible
    assert sp.last_error is None, sp.last_traceback


def test_log_linear_toggles_swap_the_scales(analysis: Any, sel: dw.Selection) -> None:
    sp = SpectrumPlot(analysis, sel)
    assert isinstance(sp.points.scales["y"], bq.LogScale) and isinstance(
        sp.hist["unfolded"].scales["x"], bq.LogScale
    )
    sp.log_sigma.value = False
    sp.log_esd.value = False
    assert isinstance(sp.rank_fig.marks[-1].scales["y"], bq.LinearScale)
    assert isinstance(sp.esd_fig.marks[0].scales["x"], bq.LinearScale)
    assert sp.points.y.size and sp.hist["unfolded"].y.min() == 0.0
    sp.points.selected = np.array([2])  # the new scatter still writes the selection
    assert sel.neuron == 2 and sp.last_error is None


def test_unknown_overlay_is_refused(analysis: Any) -> None:
    with pytest.raises(ValueError, match="use 'slices' and/or 'operator'"):
        SpectrumPlot(analysis, overlays=("exact",))


# -- LayerSelector -----------------------------------------------------------------------------------
def test_layer_selector_lists_layers_in_forward_order_with_badges(analysis: Any, sel: dw.Selection) -> None:
    ls = LayerSelector(analysis, sel)
    labels = [label.replace("\u00a0", " ") for label, _ in ls.select.options]  # no-break spaces keep columns
    assert [v for _, v in ls.select.options] == analysis.names
    assert "Conv2d 6×1×3×3" in labels[0] and "Linear 3×72" in labels[-1]
    analysis.metrics()
    ls.refresh_badges()
    alpha = analysis.layer_metrics(analysis.names[0])["alpha"]
    assert f"α={alpha:.2f}" in ls.select.options[0][0]
    assert ls.select.value == sel.layer  # refreshing keeps the selected layer


# -- LayerMetrics ------------------------------------------------------------------------------------
def test_layer_metrics_lazy_then_computed(model: Any) -> None:
    fresh = dw.SpectralAnalysis(model, torch.zeros(1, 1, 12, 12), progress=False)
    m = LayerMetrics(fresh, dw.Selection.for_analysis(fresh), compute="lazy")
    assert m.trained.x.size == 0 and "not analysed yet" in m.note.value and not m.compute_button.disabled
    m.compute_button.click()
    assert m.trained.x.size == m.base.x.size == 2  # the 3×72 Linear layer has too few eigenvalues for α
    assert "1 layer(s) without a value" in m.note.value
    assert m.compute_button.disabled
    m.metric.value = "stable_rank"
    assert m.trained.x.size == 3 and m.note.value == ""
    with pytest.raises(ValueError, match="unknown metric"):
        LayerMetrics(fresh, metric="beta")


# -- SingularVectorView ------------------------------------------------------------------------------
def test_singular_vector_view_without_profile(analysis: Any, sel: dw.Selection) -> None:
    v = SingularVectorView(analysis, sel, n_filters=5)
    assert v.filters.count == 5 and not hasattr(v, "bars")
    sel.layer = analysis.names[-1]  # Linear: 72 inputs read as the 8×3×3 pooled conv output
    assert "read as 8×3×3" in v.header.value and v.filters.count == 3


def test_singular_vector_view_with_profile_shows_top_images_and_class_signal(
    analysis: Any, profile: Any, data: Any, sel: dw.Selection
) -> None:
    v = SingularVectorView(analysis, sel, profile=profile, images=data[2], labels=data[1], n_images=6)
    idx, _ = profile.top_images(sel.layer, 0, 6)
    assert v.top_images.count == 6 and v._top.tolist() == idx.tolist()
    assert v.top_images.labels == [profile.class_names[int(data[1][i])] for i in idx]
    np.testing.assert_allclose(v.bars.y, np.nan_to_num(profile.class_mean(sel.layer)[:, 0]))
    sel.neuron = 3
    np.testing.assert_allclose(v.bars.y, np.nan_to_num(profile.class_mean(sel.layer)[:, 3]))


def test_render_filter_first_layer_rgb_and_deep_patterns() -> None:
    rgb, cap = render_filter(np.random.default_rng(0).normal(size=(3, 5, 5)), first_layer=True)
    assert cap == "RGB" and rgb.shape[2] == 3 and rgb.shape[0] == rgb.shape[1]
    deep, cap = render_filter(np.random.default_rng(1).normal(size=(16, 3, 3)), first_layer=False, channels=4)
    assert cap.startswith("in ch ") and len(cap[6:].split(",")) == 4
    assert deep.shape[0] == deep.shape[1]  # 2×2 patterns
    f = np.zeros((4, 3, 3))
    f[2, 1, 1] = 1.0  # strongest channel first
    _, cap = render_filter(f, first_layer=False, channels=2)
    assert cap.startswith("in ch 2,")
    _vec, cap = render_filter(np.arange(10.0) - 5, first_layer=False)
    assert cap == "10-vector"
    assert diverging(np.array([-1.0, 0.0, 1.0])).tolist()[1] == [247, 247, 247]  # 0 is white


def test_render_images_accepts_channels_first_float() -> None:
    tiles = render_images(np.random.default_rng(0).normal(size=(4, 3, 8, 8)), [0, 2], size=1)
    assert len(tiles) == 2 and tiles[0].shape == (8, 8, 3) and tiles[0].dtype == np.uint8
    big = render_images(np.full((1, 224, 224), 200, np.uint8), [0], size=1, max_side=96)[0]
    assert big.shape == (74, 74, 3) and (big == 200).all()  # 3×3 blocks averaged: less to send


# -- HypergraphExplorer ------------------------------------------------------------------------------
def test_graph_elements_collapse_cap_and_dual(profile: Any) -> None:
    hg = profile.hypergraph(top_k=8, threshold=0.5)
    el = graph_elements(hg)
    n_edges = len([e for e, m in hg.edges.items() if m])
    assert el["n_shown"] == n_edges and not el["capped"]
    assert len(el["links"]) == sum(len(m) for m in hg.edges.values())
    groups = {frozenset(m) for m in hg.edges.values() if m}
    assert graph_elements(hg, collapse=True)["n_shown"] == len(groups)
    small = graph_elements(hg, max_elements=len(profile.class_names) + 6)
    assert small["capped"] and 0 < small["n_shown"] < n_edges
    assert len(small["nodes"]) + len(small["links"]) <= len(profile.class_names) + 6
    dual = graph_elements(profile.hypergraph(top_k=8, threshold=0.5, dual=True))
    assert {n["kind"] for n in dual["nodes"] if "hyperedge" in n["classes"]} == {"class"}


def test_hypergraph_controls_and_cap_note(profile: Any, analysis: Any) -> None:
    sel = dw.Selection.for_analysis(analysis, profile, layer=analysis.names[0])
    h = HypergraphExplorer(profile, sel, threshold=0.5, max_elements=8)
    assert "capped at 8 elements" in h.note.value and h.graph.n_elements <= 8 + 3
    h.max_elements = 300
    h.follow.value = False
    h.layers.value = tuple(profile.layers)
    legend = ", ".join(f"<b>L{j}</b> = {n}" for j, n in enumerate(profile.layers))
    assert legend in h.note.value and not h.layers.disabled
    n = len(h.graph.node_ids)
    h.dual.value = True
    assert "hyperedges (classes)" in h.note.value
    h.collapse.value = True
    h.s.value = 2
    assert "(s = 2)" in h.note.value and h.last_error is None
    h.dual.value = False
    h.collapse.value = False
    assert len(h.graph.node_ids) == n
    sel.layer = analysis.names[1]  # not following: no rebuild
    assert legend in h.note.value


def test_hypergraph_says_when_the_layer_was_not_profiled(analysis: Any, data: Any) -> None:
    p = dw.Profiler(analysis, layers=[analysis.names[0]]).profile(data[0], data[1], progress=False)
    sel = dw.Selection.for_analysis(analysis, p, layer=analysis.names[1])
    h = HypergraphExplorer(p, sel)
    assert "was not profiled" in h.note.value and h.graph.n_elements == 0
    v = SingularVectorView(analysis, sel, profile=p)
    assert "was not profiled" in v.neuron_header.value and v.last_error is None


def test_graph_redraws_only_add_node_widgets_and_reuse_them(profile: Any, analysis: Any) -> None:
    # ipycytoscape's front end cannot take back a node widget it has removed once (duplicate ids): the
    # adapter keeps every node widget drawn (hidden when not shown) and a graph drawn again reuses them
    sel = dw.Selection.for_analysis(analysis, profile, layer=analysis.names[1])
    h = HypergraphExplorer(profile, sel, threshold=0.5)
    before, shown = list(h.graph.cytoscape.graph.nodes), h.graph.node_ids
    assert before
    h.dual.value = True
    after = list(h.graph.cytoscape.graph.nodes)
    assert after[: len(before)] == before  # new node widgets only appended, none removed
    assert all(w.comm is not None for w in after)  # none closed
    ids = [n.data["id"] for n in after]
    assert len(ids) == len(set(ids))
    assert set(h.graph.node_ids) <= set(ids)
    h.dual.value = False  # back: the same widgets, nothing new
    assert list(h.graph.cytoscape.graph.nodes) == after and h.graph.node_ids == shown
