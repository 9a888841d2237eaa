"""The graph adapter's messages to the drawing widget: the order the front end needs."""

from __future__ import annotations

from typing import Any

from ddp_widgets.widgets.graph_adapter import CytoscapeAdapter


def _graph(tag: str, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nodes = [
        {"id": f"{tag}{i}", "label": str(i), "classes": "neuron", "x": 100.0 * i, "y": 0.0} for i in range(n)
    ]
    links = [{"source": f"{tag}0", "target": f"{tag}{i}", "width": 1.0} for i in range(1, n)]
    return nodes, links


def test_a_graph_is_shown_before_the_view_is_fitted_to_it() -> None:
    """The stylesheet that shows a graph and the layout that fits the view to it go in two messages, in that
    order: in one message the front end may run the layout first and fit to a graph still hidden."""
    g = CytoscapeAdapter()
    drawing = g.cytoscape
    sent: list[list[str]] = []
    send = drawing._send
    drawing._send = lambda msg, buffers=None: (sent.append(sorted(msg.get("state", {}))), send(msg, buffers))[
        1
    ]
    for tag in ("a", "b", "a"):  # a new graph, another, the first again
        sent.clear()
        g.set_graph(*_graph(tag, 3))
        assert sent == [["cytoscape_style"], ["cytoscape_layout"]], (tag, sent)
        assert drawing.cytoscape_layout["eles"] == drawing.cytoscape_style[-1]["selector"]  # the graph shown
    g.close()
