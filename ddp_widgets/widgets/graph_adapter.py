"""A thin adapter between the hypergraph view and the graph-drawing widget (ipycytoscape 1.3.3).

The view speaks only this interface: `set_graph(nodes, links)`, `set_classes({id: classes})`,
`on_node_click(callback(node_id))` and `widget` (what to display). Swapping ipycytoscape for another
drawing widget means writing one more class with these four members.

ipycytoscape creates one widget per node and edge. A redraw replaces them all with new widgets, after
clearing the graph in a message of its own: the front end adds the elements of a new node list before
it removes those of the old one, and never removes an element whose widget it has removed once before,
so reusing widgets (or ids) across redraws leaves duplicate ids behind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

__all__ = ["GRAPH_STYLE", "CytoscapeAdapter"]

GRAPH_STYLE: list[dict[str, Any]] = [
    {"selector": "node", "style": {
        "label": "data(label)", "font-size": "14px", "font-family": "sans-serif", "color": "#222",
        "min-zoomed-font-size": 7, "background-color": "data(color)",
        "text-valign": "bottom", "text-halign": "center", "text-margin-y": "3px",
        "width": 22, "height": 22, "border-width": 1, "border-color": "#555",
        "text-background-color": "#ffffff", "text-background-opacity": 0.7, "text-background-padding": "1px"}},
    {"selector": "node.class", "style": {"shape": "ellipse", "width": 26, "height": 26}},
    {"selector": "node.neuron", "style": {"shape": "round-rectangle", "font-size": "13px"}},
    {"selector": "node.hyperedge", "style": {"text-valign": "top", "text-margin-y": "-3px"}},
    {"selector": "node.nolabel", "style": {"text-opacity": 0}},
    {"selector": "node.sel", "style": {"border-width": 5, "border-color": "#d62728", "width": 34, "height": 34,
                                       "text-opacity": 1, "font-weight": "bold", "z-index": 10}},
    {"selector": "edge", "style": {"width": "data(width)", "line-color": "#9aa5b1", "opacity": 0.8, "curve-style": "straight"}},
    {"selector": "edge.sel", "style": {"line-color": "#d62728", "opacity": 1}},
]


class CytoscapeAdapter:
    """Draws a graph with ipycytoscape; nodes and links are plain dicts.

    node: {"id", "label", "classes" (space-separated), "x", "y", and any data such as "tooltip"};
    link: {"source", "target", "width"}. Positions are used as given ("preset" layout).
    """

    def __init__(self, height: str = "380px") -> None:
        try:
            import ipycytoscape
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ImportError('the hypergraph view needs ipycytoscape: pip install "ddp-widgets"') from exc
        self._cy = ipycytoscape
        self.widget = ipycytoscape.CytoscapeWidget(layout=widgets.Layout(width="100%", height=height))
        self.widget.add_class("ddp-graph")
        self.widget.set_style(GRAPH_STYLE)
        self.widget.cytoscape_layout = {"name": "preset", "fit": True, "padding": 24, "animate": False}
        self.widget.min_zoom, self.widget.max_zoom = 0.2, 4.0
        self.widget.wheel_sensitivity = 0.3
        self.widget.auto_unselectify = True
        self.widget.tooltip_source = "tooltip"
        self._nodes: dict[str, Any] = {}  # drawn: id -> ipycytoscape.Node
        self._links: list[Any] = []
        self._callbacks: list[Callable[[str], None]] = []
        self.widget.on("node", "click", self._clicked)

    # -- drawing -------------------------------------------------------------------------------------
    def set_graph(self, nodes: Sequence[dict[str, Any]], links: Sequence[dict[str, Any]]) -> None:
        """Replace what is drawn: new node and edge widgets, sent after a message that clears the graph."""
        old = [*self._nodes.values(), *self._links]
        graph = self.widget.graph
        if old:
            with graph.hold_sync():
                graph.nodes, graph.edges, graph._adj = [], [], {}
        self._nodes = {}
        for n in nodes:
            data = {k: v for k, v in n.items() if k not in ("classes", "x", "y")}
            self._nodes[n["id"]] = self._cy.Node(data=data, classes=n.get("classes", ""), position={"x": n["x"], "y": n["y"]})
        self._links = [self._cy.Edge(data={"source": e["source"], "target": e["target"], "width": e.get("width", 1.5)},
                                     classes=e.get("classes", "")) for e in links]
        if self._nodes or old:
            with graph.hold_sync():
                graph.nodes, graph.edges, graph._adj = list(self._nodes.values()), list(self._links), {}
        for w in old:
            w.close()

    def set_classes(self, classes: dict[str, str]) -> None:
        """Set the style classes of drawn nodes (e.g. to highlight the selection)."""
        for node_id, cls in classes.items():
            node = self._nodes.get(node_id)
            if node is not None and node.classes != cls:
                node.classes = cls

    def node_classes(self, node_id: str) -> str:
        return self._nodes[node_id].classes if node_id in self._nodes else ""

    @property
    def node_ids(self) -> list[str]:
        return [n.data["id"] for n in self.widget.graph.nodes]

    @property
    def n_elements(self) -> int:
        return len(self.widget.graph.nodes) + len(self.widget.graph.edges)

    # -- interaction ---------------------------------------------------------------------------------
    def on_node_click(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def _clicked(self, element: dict[str, Any]) -> None:
        node_id = (element.get("data") or {}).get("id")
        if node_id is not None:
            for fn in self._callbacks:
                fn(str(node_id))

    def click(self, node_id: str) -> None:
        """Simulate a click on a node the way the browser reports it (through the widget's message handler)."""
        self.widget._handle_interaction(self.widget, {"widget": "node", "event": "click", "data": {"data": {"id": node_id}}}, [])
