"""Acceptance of the linked views (issue 4), headless: Selection -> every view, view interaction ->
Selection, one observer call per change (no echo loops), JSON-serialisable widget state."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pytest
from ipywidgets.widgets.widget import _remove_buffers
from widget_helpers import walk, widget_state

# which views must redraw when a selection trait changes
OBSERVERS = {
    "layer": {"layer_selector", "spectrum", "metrics", "vectors", "hypergraph"},
    "neuron": {"spectrum", "vectors", "hypergraph"},
    "neurons": {"spectrum", "vectors", "hypergraph"},
    "class_label": {"vectors", "hypergraph"},
    "class_labels": {"vectors", "hypergraph"},
    "image_index": {"vectors"},
}
VIEWS = ("layer_selector", "spectrum", "metrics", "vectors", "hypergraph")


def _drawn_neuron(ex: Any) -> tuple[str, int]:
    """An SVD neuron of the selected layer that the hypergraph draws (so its highlight can change)."""
    ids = [i for i in ex.hypergraph.graph.node_ids if i.startswith("n|")]
    assert ids, "the test profile should give the hypergraph at least one SVD neuron"
    layer, k = ids[-1][2:].rsplit(":", 1)
    return layer, int(k)


def _new_value(ex: Any, trait: str) -> Any:
    sel = ex.selection
    if trait == "layer":
        return next(n for n in ex.analysis.names if n != sel.layer)
    if trait == "neuron":
        return _drawn_neuron(ex)[1] if _drawn_neuron(ex)[1] != sel.neuron else 1
    if trait == "neurons":  # the focused neuron and one drawn in the hypergraph (highlighted there too)
        return sorted({sel.neuron, _drawn_neuron(ex)[1]})
    if trait == "class_label":
        return 1
    if trait == "class_labels":
        return [0, 2]
    if trait == "image_index":
        return int(ex.vectors._top[1])
    raise AssertionError(trait)


def _prepare(ex: Any, trait: str) -> None:
    """Put the selection where a change of `trait` is visible in every observing view."""
    layer, k = _drawn_neuron(ex)
    other = 0 if k != 0 else 1  # a neuron the hypergraph does not highlight yet
    ex.selection.select(layer=layer, neuron=other if trait in ("neuron", "neurons") else k)


@pytest.mark.parametrize("trait", list(OBSERVERS))
def test_setting_a_selection_trait_updates_every_view_that_shows_it(explorer: Any, trait: str) -> None:
    _prepare(explorer, trait)
    before = {v: widget_state(getattr(explorer, v)) for v in VIEWS}
    calls = {v: Counter(getattr(explorer, v).calls) for v in VIEWS}
    setattr(explorer.selection, trait, _new_value(explorer, trait))
    for v in VIEWS:
        view = getattr(explorer, v)
        assert view.last_error is None, view.last_traceback
        changed = widget_state(view) != before[v]
        delta = Counter(view.calls) - calls[v]
        if v in OBSERVERS[trait]:
            assert changed, f"{v} did not update its widgets when selection.{trait} changed"
            assert sum(delta.values()) == 1, f"{v}: expected one observer call, got {dict(delta)}"
        else:
            assert not delta, f"{v} observed {trait} though it does not need it: {dict(delta)}"


def test_setting_the_layer_redraws_each_view_with_that_layer(explorer: Any) -> None:
    name = explorer.analysis.names[1]
    explorer.selection.layer = name
    assert explorer.layer_selector.select.value == name
    assert name in explorer.spectrum.header.value and name in explorer.spectrum.rank_fig.title
    sv = explorer.analysis.values(name).numpy()
    np.testing.assert_allclose(explorer.spectrum.points.y, sv, rtol=1e-6)
    assert explorer.metrics.cursor.x.tolist() == [1.0, 1.0]
    assert explorer.vectors.filters.labels[0].startswith("0·σ") and name in explorer.vectors.header.value
    assert f"layer <b>{name}</b>" in explorer.hypergraph.note.value


def _counts(ex: Any) -> dict[str, Counter]:
    return {v: Counter(getattr(ex, v).calls) for v in VIEWS}


def _delta(ex: Any, before: dict[str, Counter]) -> dict[str, dict[str, int]]:
    return {v: dict(Counter(getattr(ex, v).calls) - before[v]) for v in VIEWS}


def test_clicking_a_singular_value_selects_it_once_in_every_view(explorer: Any) -> None:
    sel = explorer.selection
    sel.select(layer=explorer.analysis.names[1], neuron=0)
    before = _counts(explorer)
    explorer.spectrum.points.selected = np.array([3], dtype=np.uint32)  # what bqplot sends on a click
    assert sel.neuron == 3 and sel.neurons == []
    assert explorer.vectors.filters.selected_index == 3
    d = _delta(explorer, before)
    assert d["spectrum"] == {"_on_points": 1, "_on_index": 1}
    assert d["vectors"] == {"_on_index": 1} and d["hypergraph"] == {"_on_highlight": 1}
    assert d["layer_selector"] == {} and d["metrics"] == {}
    explorer.spectrum.points.selected = np.array([3, 5])  # ctrl-click: several
    assert sel.neurons == [3, 5] and sel.neuron == 5
    explorer.spectrum.points.selected = None  # click on the background
    assert sel.neuron is None and sel.neurons == []


def test_picking_a_layer_in_the_selector_and_in_the_metrics_plot(explorer: Any) -> None:
    names = explorer.analysis.names
    before = _counts(explorer)
    explorer.layer_selector.select.value = names[2]
    assert explorer.selection.layer == names[2]
    d = _delta(explorer, before)
    assert d["layer_selector"] == {"_on_pick": 1, "_on_layer": 1}
    assert all(d[v] == {"_on_layer": 1} for v in ("spectrum", "metrics", "vectors", "hypergraph"))
    explorer.metrics.trained.selected = np.array([0])
    assert explorer.selection.layer == names[0]
    assert explorer.layer_selector.select.value == names[0]


def test_dropdowns_change_the_metric_and_baseline(explorer: Any) -> None:
    m = explorer.metrics
    m.metric.value = "stable_rank"
    trained, base = m.values()
    expected = explorer.analysis.compare("permuted")
    np.testing.assert_allclose(trained, expected["stable_rank"].to_numpy())
    np.testing.assert_allclose(base, expected["stable_rank_baseline"].to_numpy())
    np.testing.assert_allclose(m.trained.y, trained)
    assert m.y_axis.label == "stable rank"
    m.baseline.value = "random-init"
    assert np.isfinite(m.values()[1]).all() and m.last_error is None
    m.baseline.value = "none"
    assert m.base.x.size == 0


def test_clicking_tiles_and_bars_in_the_singular_vector_view(explorer: Any) -> None:
    v, sel = explorer.vectors, explorer.selection
    sel.select(layer=explorer.analysis.names[0], neuron=0)
    v.filters.selected_index = 2  # a click on a filter tile
    assert sel.neuron == 2
    v.bars.selected = np.array([1])  # a click on the bar of class 1
    assert sel.class_label == 1
    v.top_images.selected_index = 0
    assert sel.image_index == int(v._top[0])
    assert sel.class_label == int(explorer.vectors.labels[sel.image_index])


def test_clicking_hypergraph_nodes_sets_the_selection(explorer: Any) -> None:
    g, sel = explorer.hypergraph.graph, explorer.selection
    layer, k = _drawn_neuron(explorer)
    sel.select(layer=layer, neuron=None)
    before = _counts(explorer)
    g.click("c|2")  # through ipycytoscape's message handler, as the browser reports a click
    assert sel.class_label == 2
    assert "c|2" in explorer.hypergraph.highlighted
    g.click(f"n|{layer}:{k}")
    assert (sel.layer, sel.neuron) == (layer, k)
    assert f"n|{layer}:{k}" in explorer.hypergraph.highlighted
    d = _delta(explorer, before)
    assert d["hypergraph"] == {"_on_node_click": 2, "_on_highlight": 2}
    assert d["vectors"] == {"_on_class": 1, "_on_index": 1}


def test_selection_set_elsewhere_is_highlighted_in_the_graph(explorer: Any) -> None:
    layer, k = _drawn_neuron(explorer)
    explorer.selection.select(layer=layer, neuron=k, class_label=0)
    assert set(explorer.hypergraph.highlighted) == {f"n|{layer}:{k}", "c|0"}
    explorer.selection.class_label = None
    assert explorer.hypergraph.highlighted == [f"n|{layer}:{k}"]


def test_all_widget_state_is_json_serialisable(explorer: Any) -> None:
    explorer.selection.select(layer=explorer.analysis.names[1], neuron=1, class_label=0)
    widgets = walk(explorer)
    assert len(widgets) > 50
    kinds = {w.get_state()["_model_name"] for w in widgets}
    assert {
        "FigureModel",
        "ScatterModel",
        "CytoscapeModel",
        "AnyModel",
        "SelectModel",
    } <= kinds  # AnyModel: ImageGrid
    for w in widgets:
        state, _, buffers = _remove_buffers(w.get_state())
        json.dumps(state)
        assert all(isinstance(b, (bytes, memoryview, bytearray)) for b in buffers)


def test_arrays_travel_as_binary_buffers(explorer: Any) -> None:
    _, paths, _buffers = _remove_buffers(explorer.spectrum.points.get_state())
    assert ["x", "value"] in paths and ["y", "value"] in paths
    _, paths, _ = _remove_buffers(explorer.vectors.filters.get_state())
    assert ["data"] in paths


def test_an_exception_in_a_callback_is_shown_in_the_view(
    explorer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("spectrum exploded")

    monkeypatch.setattr(explorer.spectrum, "_spectrum", broken)
    explorer.selection.layer = explorer.analysis.names[2]  # raises nothing here
    out = explorer.spectrum.errors.outputs
    assert out and "RuntimeError: spectrum exploded" in out[0]["text"]
    assert isinstance(explorer.spectrum.last_error, RuntimeError)
    assert explorer.vectors.last_error is None  # the other views carry on
    assert explorer.vectors.filters.count > 0


def test_closing_a_view_stops_its_observers(explorer: Any) -> None:
    spectrum = explorer.spectrum
    spectrum.close()
    before = Counter(spectrum.calls)
    explorer.selection.layer = explorer.analysis.names[2]
    assert Counter(spectrum.calls) == before
