"""Several SVD neurons chosen on the filter tiles (ctrl/cmd- and shift-click in the image grid) reach the
Selection, and several neurons selected elsewhere are shown selected on the tiles. A click is simulated
the way the browser sends it: one update message with the grid's focus and selected tiles together."""

from __future__ import annotations

from typing import Any


def _click(grid: Any, **state: Any) -> None:
    """What the front end's update message does to the grid (both traits set, then observers run)."""
    grid.set_state(state)


def _layer(explorer: Any) -> str:
    name = explorer.analysis.names[1]  # 8 singular values: 8 filter tiles
    explorer.selection.select(layer=name, neuron=0)
    return name


def test_a_plain_click_selects_one_neuron(explorer: Any) -> None:
    v, sel = explorer.vectors, explorer.selection
    _layer(explorer)
    _click(v.filters, selected_index=2)
    assert (sel.neuron, sel.neurons) == (2, [])


def test_ctrl_click_selects_several_neurons_and_the_detail_view_compares_them(explorer: Any) -> None:
    v, sel = explorer.vectors, explorer.selection
    _layer(explorer)
    _click(v.filters, selected_index=1)
    before = sel.generation
    _click(v.filters, selected_index=5, selected_indices=[1, 5])
    assert sel.neuron == 5 and sorted(sel.neurons) == [1, 5]
    assert sel.generation == before + 1  # one change of the selection per click, not one per trait
    assert v._compared == [1, 5]  # one row per selected neuron in the detail view
    # shift-click: the range from the focus
    _click(v.filters, selected_index=3, selected_indices=[3, 4, 5])
    assert sel.neuron == 3 and sorted(sel.neurons) == [3, 4, 5]
    # a plain click ends the multi-selection
    _click(v.filters, selected_index=0, selected_indices=[])
    assert (sel.neuron, sel.neurons) == (0, [])
    assert v.filters.chosen() == [0]


def test_ctrl_click_off_the_last_tile_selects_no_neuron(explorer: Any) -> None:
    v, sel = explorer.vectors, explorer.selection
    _layer(explorer)
    _click(v.filters, selected_index=4)
    _click(v.filters, selected_index=None)
    assert (sel.neuron, sel.neurons) == (None, [])


def test_neurons_selected_elsewhere_are_selected_on_the_tiles(explorer: Any) -> None:
    v, sel = explorer.vectors, explorer.selection
    name = _layer(explorer)
    sel.select(neuron=6, neurons=[2, 6, 7])  # e.g. ctrl-clicks in the spectrum
    assert (v.filters.selected_index, v.filters.selected_indices) == (6, [2, 6, 7])
    sel.neurons = []
    assert (v.filters.selected_index, v.filters.selected_indices) == (6, [])
    sel.select(neuron=1, neurons=[1, 3])
    # another layer is drawn with new tiles: the neurons it has stay selected on them
    other = explorer.analysis.names[0]  # 6 singular values
    sel.layer = other
    assert sel.layer != name and sorted(sel.neurons) == [1, 3]
    assert (v.filters.selected_index, v.filters.selected_indices) == (1, [1, 3])


def test_neurons_without_a_tile_stay_selected_but_are_not_drawn(explorer: Any) -> None:
    v, sel = explorer.vectors, explorer.selection
    _layer(explorer)
    v.apply_settings({"n_filters": 4})
    sel.select(neuron=2, neurons=[2, 6])
    assert sorted(sel.neurons) == [2, 6]
    assert v.filters.count == 4 and v.filters.chosen() == [2]
