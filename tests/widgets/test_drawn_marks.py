"""Selection.generation and each view's data-ddp-drawn mark: what a browser waits for after a click."""

from __future__ import annotations

import re
from typing import Any

import ddp_widgets as dw
from ddp_widgets.selection import SelectionError


def _marks(ex: Any) -> dict[str, int]:
    """The explorer's marks: one hidden HTML widget with a span per view (one message per click)."""
    for view in ex.views:  # the views' own marks are left empty: no stale generation in the page
        assert view.drawn.value == "", f"{type(view).__name__} publishes a mark of its own in the explorer"
    found = re.findall(r'data-ddp-view="(\w+)" data-ddp-drawn="(\d+)"', ex.drawn.value)
    assert len(found) == len(ex.views), ex.drawn.value
    return {view: int(g) for view, g in found}


def test_a_view_on_its_own_publishes_its_mark(explorer: Any) -> None:
    view = dw.widgets.SpectrumPlot(explorer.analysis, dw.Selection.for_analysis(explorer.analysis))
    assert view.drawn in view.children
    view.selection.layer = explorer.analysis.names[1]
    m = re.search(r'data-ddp-view="SpectrumPlot" data-ddp-drawn="(\d+)"', view.drawn.value)
    assert m and int(m.group(1)) == view.selection.generation
    view.close()


def test_generation_counts_completed_changes() -> None:
    sel = dw.Selection(valid_layers=["a", "b"], ranks={"a": 4, "b": 2})
    g = sel.generation
    sel.layer = "a"
    assert sel.generation == g + 1
    sel.select(layer="b", neuron=1, class_label=2)  # several traits: one generation
    assert sel.generation == g + 2
    sel.layer = "b"  # no change: no generation
    assert sel.generation == g + 2
    sel.neuron = 1
    sel.layer = "a"
    assert sel.generation == g + 3
    with sel.batch():
        sel.neuron = 3
        sel.neurons = [2, 3]
        assert sel.generation == g + 3  # not until the batch ends
    assert sel.generation == g + 4


def test_generation_advances_after_every_observer() -> None:
    sel = dw.Selection(valid_layers=["a", "b"], ranks={"a": 4, "b": 2})
    seen: list[tuple[str, int]] = []
    sel.observe(lambda c: seen.append(("layer", sel.generation)), names="layer")
    sel.observe(lambda c: seen.append(("generation", c["new"])), names="generation")
    g = sel.generation
    sel.select(layer="a", neuron=3)
    sel.layer = "b"  # drops neuron 3 (out of range) inside the layer's observers: still one generation
    assert sel.neuron is None
    assert seen == [("layer", g), ("generation", g + 1), ("layer", g + 1), ("generation", g + 2)]


def test_failed_select_is_no_generation() -> None:
    sel = dw.Selection(valid_layers=["a"], ranks={"a": 2})
    g = sel.generation
    try:
        sel.select(layer="a", neuron=5)
    except SelectionError:
        pass
    assert sel.generation == g and sel.layer is None


def test_every_view_marks_the_generation_it_drew(explorer: Any) -> None:
    marks = _marks(explorer)
    assert set(marks) == {
        "LayerSelector",
        "SpectrumPlot",
        "LayerMetrics",
        "SingularVectorView",
        "HypergraphExplorer",
        *(["NeuronDashboard"] if explorer.dashboard is not None else []),
    }
    g = explorer.selection.generation
    assert set(marks.values()) == {g}
    sent = explorer.drawn.value
    explorer.selection.layer = explorer.analysis.names[1]
    assert set(_marks(explorer).values()) == {g + 1} and explorer.drawn.value != sent
    # a click in a view (here a filter tile) is one generation for all views, whatever it sets
    explorer.vectors.filters.selected_index = 2
    assert explorer.selection.neuron == 2
    assert set(_marks(explorer).values()) == {g + 2}
