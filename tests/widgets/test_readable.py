"""Issue 14, kernel side: the hypergraph's controls tell the truth, labels are short, several selected
neurons and classes drive the detail views, axes have round ticks, the selected neuron is marked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ddp_widgets.widgets._axes import log_ticks, nice_ticks
from ddp_widgets.widgets._images import filter_description
from ddp_widgets.widgets.hypergraph_explorer import MAX_LABEL, short_label


@pytest.mark.parametrize(
    "lo,hi",
    [
        (0, 8),
        (0, 63),
        (0.02, 0.1),
        (0.76, 1.7),
        (2.05, 12.5),
        (-0.2, 0.2),
        (3, 4.4),
        (0.1, 0.95),
        (1e-3, 0.5),
        (0, 2047),
    ],
)
def test_every_axis_gets_at_least_four_round_ticks(lo: float, hi: float) -> None:
    for ticks in [nice_ticks(lo, hi, 5)] + ([log_ticks(lo, hi, 5)] if lo > 0 else []):
        assert ticks.size >= 4, (lo, hi, ticks)
        assert (ticks >= lo - 1e-12).all() and (ticks <= hi + 1e-12).all()
        mantissa = ticks[ticks != 0] / 10.0 ** np.floor(np.log10(np.abs(ticks[ticks != 0])))
        assert np.allclose(mantissa, np.round(mantissa, 2)), ticks  # at most 3 significant digits


def test_log_ticks_are_decades_over_many_decades() -> None:
    assert np.allclose(log_ticks(1e-6, 10.0), [1e-6, 1e-4, 1e-2, 1.0])
    assert np.allclose(log_ticks(0.02, 0.1), [0.02, 0.03, 0.05, 0.1])


def test_hypergraph_labels_are_short_and_tooltips_full(explorer: Any) -> None:
    hg = explorer.hypergraph
    nodes = hg._elements["nodes"]
    assert nodes
    for n in nodes:
        assert len(n["label"]) <= MAX_LABEL + 3, n["label"]
        if n["kind"] == "neuron" and "alpha" in n:
            assert str(n["alpha"]) in n["label"] and str(n["layer"]) in n["tooltip"]
    assert short_label({"layer": "layer4.0.downsample.0", "alpha": 8}, "x", ["layer4.0.downsample.0"]) == "8"
    assert short_label({"layer": "b", "alpha": 8}, "x", ["a", "b"]) == "L1:8"
    assert short_label({"class_index": 3}, "a very long class name", []) == "a very long…"


def test_hypergraph_layer_list_shows_the_followed_layer_and_unticking_keeps_the_graph(explorer: Any) -> None:
    hg, sel = explorer.hypergraph, explorer.selection
    profiled = list(explorer.profile.layers)
    sel.layer = profiled[0]
    assert hg.follow.value and hg.layers.value == (profiled[0],) and hg.chosen_layers() == [profiled[0]]
    graph_before = hg.hypergraph
    ids_before = list(hg.graph.node_ids)
    hg.follow.value = False
    assert hg.hypergraph is graph_before and list(hg.graph.node_ids) == ids_before  # not rebuilt, not moved
    assert hg.chosen_layers() == [profiled[0]]
    sel.layer = profiled[-1]  # no longer following
    assert hg.chosen_layers() == [profiled[0]] and hg.layers.value == (profiled[0],)
    hg.follow.value = True
    assert hg.layers.value == (profiled[-1],) and hg.chosen_layers() == [profiled[-1]]


def test_several_neurons_drive_the_detail_view(explorer: Any) -> None:
    sel, v = explorer.selection, explorer.vectors
    sel.layer = explorer.analysis.names[1]
    sel.neurons = [0, 2, 3]
    assert v.compare.layout.display == "flex" and v.top_images.layout.display == "none"
    per_row = 1 + min(v.n_images, 6)
    assert v.compare.columns == per_row and v.compare.count == 3 * per_row
    assert [v.compare.labels[i * per_row] for i in range(3)] == ["k=0", "k=2", "k=3"]
    assert sorted(v.filters.chosen()) == [0, 2, 3]  # every chosen filter tile is drawn selected
    # each row's images are that neuron's top images
    top2, _ = explorer.profile.top_images(sel.layer, 2, per_row - 1)
    assert [c[1] for c in v._compare_cells[per_row + 1 : 2 * per_row]] == [int(i) for i in top2 if i >= 0]
    # a click on a row's image focuses that neuron and image, keeping the multi-selection
    v.compare.selected_index = per_row + 1
    assert sel.neuron == 2 and sel.image_index == int(top2[0]) and sorted(sel.neurons) == [0, 2, 3]
    # the spectrum marks all of them
    assert sorted(explorer.spectrum.sel_marker.x.astype(int).tolist()) == [0, 2, 3]
    sel.neurons = []
    assert v.compare.layout.display == "none" and v.top_images.layout.display == "flex"


def test_several_classes_are_highlighted_together(explorer: Any) -> None:
    sel, v = explorer.selection, explorer.vectors
    v.bars.selected = [0, 2]  # what a ctrl-click in the browser sends
    assert sel.class_labels == [0, 2] and sel.class_label == 2
    assert sorted(v.bars.selected.tolist()) == [0, 2]
    assert {"c|0", "c|2"} <= set(explorer.hypergraph.highlighted)


def test_the_selected_neuron_has_a_rule_and_a_large_marker(explorer: Any) -> None:
    sp, sel = explorer.spectrum, explorer.selection
    sel.select(layer=explorer.analysis.names[1], neuron=3)
    assert sp.sel_rule.x.tolist() == [3.0, 3.0] and sp.sel_marker.x.tolist() == [3.0]
    assert sp.sel_marker.marker_size >= 100 > sp.points.default_size
    assert "selected" in sp.legend.value and "slices" not in sp.legend.value  # only what is drawn


@pytest.mark.parametrize(
    "kind,shape,first,expect,absent",
    [
        ("Conv2d", (64, 32, 1, 1), False, "1×1 conv", "patterns"),
        ("Conv2d", (16, 1, 3, 3), True, "grey images", "blue"),
        ("Conv2d", (16, 3, 7, 7), True, "RGB images", "blue"),
        ("Conv2d", (16, 8, 5, 5), False, "5×5 patterns on the 4 strongest of 8", "grey"),
        ("Linear", (10, 128), False, "weight vectors over 128 inputs", "patterns"),
    ],
)
def test_filter_headers_are_true(
    kind: str, shape: tuple[int, ...], first: bool, expect: str, absent: str
) -> None:
    text = filter_description(kind, shape, first, 4)
    assert expect in text and absent not in text


def test_a_revisited_layer_reuses_its_hypergraph(explorer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    hg, sel, layers = explorer.hypergraph, explorer.selection, list(explorer.profile.layers)
    sel.layer = layers[0]
    sel.layer = layers[1]
    calls = []
    original = explorer.profile.hypergraph
    monkeypatch.setattr(explorer.profile, "hypergraph", lambda *a, **k: calls.append(a) or original(*a, **k))
    sel.layer = layers[0]
    assert calls == [] and hg.chosen_layers() == [layers[0]] and hg.graph.node_ids
    hg.top_k.value = hg.top_k.value - 1  # other controls: computed anew
    assert len(calls) == 1


def test_metrics_lines_break_at_missing_layers_and_end_at_a_value() -> None:
    from ddp_widgets.widgets.layer_metrics import _gapped

    x = np.arange(6.0)
    gx, gy = _gapped(x, np.array([np.nan, 1.0, np.nan, 2.0, 3.0, np.nan]))
    assert gx.tolist() == [1.0, 2.0, 3.0, 4.0] and np.isnan(gy[1]) and gy[-1] == 3.0  # no bridge, no NaN end
    assert _gapped(x, np.full(6, np.nan))[0].size == 0


def test_the_metric_axis_label_fits_and_matches_the_figure(explorer: Any) -> None:
    m = explorer.metrics
    m.metric.value = "alpha"
    assert m.y_axis.label == "α" and explorer.figures()["metrics_alpha_permuted"].axes[0].get_ylabel() == "α"
