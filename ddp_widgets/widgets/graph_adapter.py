"""A thin adapter between the hypergraph view and the graph-drawing widget (ipycytoscape 1.3.3).

The view speaks only this interface: `set_graph(nodes, links)`, `set_classes({id: classes})`,
`on_node_click(callback(node_id))` and `widget` (what to display). Swapping ipycytoscape for another
drawing widget means writing one more class with these four members.

ipycytoscape creates one widget (one comm) per node and edge, and its front end cannot take elements
out of a drawn graph cheaply or safely: it adds the elements of a new list before it removes those of the
old one (duplicate ids), never removes an element whose widget it has removed once before, and answers
every removal with a message of its own. A new CytoscapeWidget per graph is no way out either: cytoscape
redraws every new instance in full 100 ms after it starts (its ResizeObserver's first report, debounced).

So one CytoscapeWidget keeps every element it has drawn, and graphs only ever add elements:
- a node is one element per id, an edge one per (source, target), shared by every graph that has it;
- each graph drawn gets a tag (a style class "g<k>" on its elements); the stylesheet shows the current
  graph's tag only, and the layout ("preset", positions as given) fits the view to it;
- showing a graph again sends two messages (stylesheet, then layout), plus the position, data or classes of
  shared elements that differ between the graphs; a new graph sends only the elements it adds.
When more than `max_kept` elements would be kept, drawing starts afresh in a new CytoscapeWidget (the
front end re-lays out every kept element whenever elements are added: ~70 µs each here). `widget` is a
box holding the CytoscapeWidget (`cytoscape`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets

from ..core.errors import InvalidArgumentError

__all__ = ["GRAPH_STYLE", "CytoscapeAdapter"]

GRAPH_STYLE: list[dict[str, Any]] = [
    {
        "selector": "node",
        "style": {
            "label": "data(label)",
            "font-size": "14px",
            "font-family": "sans-serif",
            "color": "#222",
            "min-zoomed-font-size": 7,
            "background-color": "data(color)",
            "text-valign": "bottom",
            "text-halign": "center",
            "text-margin-y": "3px",
            "width": 22,
            "height": 22,
            "border-width": 1,
            "border-color": "#555",
            "text-background-color": "#ffffff",
            "text-background-opacity": 0.7,
            "text-background-padding": "1px",
        },
    },
    {"selector": "node.class", "style": {"shape": "ellipse", "width": 26, "height": 26}},
    {"selector": "node.neuron", "style": {"shape": "round-rectangle", "font-size": "13px"}},
    {"selector": "node.hyperedge", "style": {"text-valign": "top", "text-margin-y": "-3px"}},
    {"selector": "node.nolabel", "style": {"text-opacity": 0}},
    {
        "selector": "node.sel",
        "style": {
            "border-width": 4,
            "border-color": "#d62728",
            "width": 22,
            "height": 22,
            "text-opacity": 1,
            "font-weight": "bold",
            "z-index": 10,
        },
    },
    {"selector": "node.class.sel", "style": {"width": 26, "height": 26}},
    {
        "selector": "edge",
        "style": {"width": "data(width)", "line-color": "#9aa5b1", "opacity": 0.8, "curve-style": "straight"},
    },
    {"selector": "edge.sel", "style": {"line-color": "#d62728", "opacity": 1}},
]
# a selected node keeps its size (a red ring and a bold label): a selection made after the fit never pushes
# a node or its label out of the canvas, so the fit needs little padding
_LAYOUT = {"name": "preset", "fit": True, "padding": 6, "animate": False}

ElementKey = tuple[str, ...]  # ("n", id) or ("e", source, target)


def _graph_key(nodes: Sequence[dict[str, Any]], links: Sequence[dict[str, Any]]) -> str:
    text = json.dumps([list(nodes), list(links)], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass
class _Graph:
    """What one graph draws: per element its data, position (nodes) and style classes, in order."""

    tag: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"data", "position", "classes"}
    edges: dict[ElementKey, dict[str, Any]] = field(
        default_factory=dict
    )  # ("e", s, t) -> {"data", "classes"}

    @classmethod
    def of(cls, tag: str, nodes: Sequence[dict[str, Any]], links: Sequence[dict[str, Any]]) -> _Graph:
        g = cls(tag)
        for n in nodes:
            g.nodes[str(n["id"])] = {
                "data": {k: v for k, v in n.items() if k not in ("classes", "x", "y")},
                "position": {"x": n["x"], "y": n["y"]},
                "classes": n.get("classes", ""),
            }
        for e in links:
            g.edges[("e", str(e["source"]), str(e["target"]))] = {
                "data": {"source": e["source"], "target": e["target"], "width": e.get("width", 1.5)},
                "classes": e.get("classes", ""),
            }
        return g

    def elements(self) -> list[ElementKey]:
        return [("n", i) for i in self.nodes] + list(self.edges)


class CytoscapeAdapter:
    """Draws graphs with ipycytoscape; nodes and links are plain dicts.

    node: {"id", "label", "classes" (space-separated), "x", "y", and any data such as "tooltip"};
    link: {"source", "target", "width"}. Positions are used as given ("preset" layout).
    Up to `max_kept` node and edge widgets are kept drawn (hidden) so that graphs shown before come
    back at no cost.
    """

    def __init__(self, height: str = "380px", max_kept: int = 1000) -> None:
        try:
            import ipycytoscape
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ImportError('the hypergraph view needs ipycytoscape: pip install "ddp-widgets"') from exc
        if max_kept < 1:
            raise InvalidArgumentError(
                f"max_kept must be at least 1 (node and edge widgets kept drawn), not {max_kept}"
            )
        self._cy = ipycytoscape
        self.max_kept = max_kept
        self.height = height
        self.widget = widgets.VBox([self._new_drawing()], layout=widgets.Layout(width="100%", min_width="0"))
        self.widget.add_class("ddp-graph-box")
        self._widgets: dict[ElementKey, Any] = {}  # element -> its Node / Edge widget
        self._base: dict[ElementKey, str] = {}  # element -> the classes its graph or the view gave it
        self._tags: dict[ElementKey, set[str]] = {}  # element -> tags of the graphs it belongs to
        self._graphs: dict[str, _Graph] = {}  # content key -> graph
        self._n_tags = 0
        self._current = _Graph("g-none")
        self._callbacks: list[Callable[[str], None]] = []

    def _new_drawing(self) -> Any:
        """An empty CytoscapeWidget with the view's settings."""
        # border 0 inline: ipycytoscape's hover border would resize the container, and cytoscape redraws
        # everything 100 ms after any resize of its container
        drawing = self._cy.CytoscapeWidget(
            layout=widgets.Layout(width="100%", height=self.height, border="0"),
            _dom_classes=("ddp-graph",),
            cytoscape_style=self._style(None),
            cytoscape_layout=dict(_LAYOUT),
            min_zoom=0.2,
            max_zoom=4.0,
            wheel_sensitivity=0.3,
            auto_unselectify=True,
            auto_ungrabify=True,  # no dragging: a press on a node would send "grab" and "free" messages
            tooltip_source="tooltip",
        )
        drawing.on("node", "click", self._clicked)
        return drawing

    @property
    def cytoscape(self) -> Any:
        """The CytoscapeWidget drawing the graphs."""
        return self.widget.children[0]

    @staticmethod
    def _style(tag: str | None) -> list[dict[str, Any]]:
        shown = [{"selector": f".{tag}", "style": {"display": "element"}}] if tag else []
        return [*GRAPH_STYLE, {"selector": "node, edge", "style": {"display": "none"}}, *shown]

    # -- drawing -------------------------------------------------------------------------------------
    def set_graph(self, nodes: Sequence[dict[str, Any]], links: Sequence[dict[str, Any]]) -> None:
        """Show this graph: the elements it shares with graphs drawn before are reused, the others added."""
        key = _graph_key(nodes, links)
        g = self._graphs.get(key)
        if g is None:
            self._n_tags += 1
            g = _Graph.of(f"g{self._n_tags}", nodes, links)
            if len(set(self._widgets) | set(g.elements())) > self.max_kept:
                self._clear()
            self._graphs[key] = g
        self._current = g
        added = self._update_elements(g)
        graph = self.cytoscape.graph
        if added:
            with graph.hold_sync():
                graph.nodes = [*graph.nodes, *(w for k, w in added if k[0] == "n")]
                graph.edges = [*graph.edges, *(w for k, w in added if k[0] == "e")]
        drawing = self.cytoscape
        # two messages, in this order: show this graph's tag, then fit the view to it. In one message the
        # front end may run the layout first (ipywidgets sends a held widget's changes in no set order),
        # and the fit then measures the graph while it is still hidden: the view comes out off-centre
        drawing.cytoscape_style = self._style(g.tag)
        drawing.cytoscape_layout = {**_LAYOUT, "eles": f".{g.tag}"}

    def _update_elements(self, g: _Graph) -> list[tuple[ElementKey, Any]]:
        """Create the elements `g` lacks, bring shared ones to `g`'s state; return the created ones."""
        added = []
        for key in g.elements():
            spec = g.nodes[key[1]] if key[0] == "n" else g.edges[key]
            self._base[key] = spec["classes"]
            self._tags.setdefault(key, set()).add(g.tag)
            w = self._widgets.get(key)
            if w is None:
                make = self._cy.Node if key[0] == "n" else self._cy.Edge
                extra = {"position": spec["position"]} if key[0] == "n" else {}
                w = self._widgets[key] = make(data=spec["data"], classes=self._classes(key), **extra)
                added.append((key, w))
                continue
            if w.data != spec["data"]:
                w.data = dict(spec["data"])
            if key[0] == "n" and w.position != spec["position"]:
                w.position = dict(spec["position"])
            self._restyle(key)
        return added

    def _classes(self, key: ElementKey) -> str:
        return " ".join([self._base[key], *sorted(self._tags[key])]).strip()

    def _restyle(self, key: ElementKey) -> None:
        w, cls = self._widgets[key], self._classes(key)
        if w.classes != cls:
            w.classes = cls

    def _clear(self) -> None:
        """Start afresh in a new CytoscapeWidget and close the old one with its elements.

        (Emptying the old graph instead would make its front end send one "removed" message per element.)
        """
        old, old_drawing = list(self._widgets.values()), self.cytoscape
        self.widget.children = (self._new_drawing(),)
        for w in [old_drawing, old_drawing.graph, *old]:
            w.close()
        self._widgets, self._base, self._tags, self._graphs = {}, {}, {}, {}

    def set_classes(self, classes: dict[str, str]) -> None:
        """Set the style classes of the shown graph's nodes (e.g. to highlight the selection).

        Only changes are sent.
        """
        for node_id, cls in classes.items():
            key = ("n", node_id)
            if node_id in self._current.nodes and self._base.get(key) != cls:
                self._base[key] = cls
                self._restyle(key)

    def node_classes(self, node_id: str) -> str:
        """The classes of a node of the shown graph, as given by the graph or `set_classes`.

        "" if the node is not shown.
        """
        return self._base.get(("n", node_id), "") if node_id in self._current.nodes else ""

    @property
    def node_ids(self) -> list[str]:
        """Ids of the shown graph's nodes, in the order given."""
        return list(self._current.nodes)

    @property
    def n_elements(self) -> int:
        """Nodes + edges of the shown graph."""
        return len(self._current.nodes) + len(self._current.edges)

    @property
    def n_kept(self) -> int:
        """Node and edge widgets kept drawn (the shown graph's and hidden ones)."""
        return len(self._widgets)

    # -- interaction ---------------------------------------------------------------------------------
    def on_node_click(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def _clicked(self, element: dict[str, Any]) -> None:
        node_id = (element.get("data") or {}).get("id")
        if node_id is not None and str(node_id) in self._current.nodes:  # hidden nodes are not clickable
            for fn in self._callbacks:
                fn(str(node_id))

    def click(self, node_id: str) -> None:
        """Simulate a click on a node the way the browser reports it.

        It goes through the widget's message handler.
        """
        w = self.cytoscape
        w._handle_interaction(w, {"widget": "node", "event": "click", "data": {"data": {"id": node_id}}}, [])

    def close(self) -> None:
        """Close the drawing, every node and edge widget kept, and the box."""
        drawing = self.cytoscape
        for w in [*self._widgets.values(), drawing.graph, drawing, self.widget]:
            w.close()
        self._widgets = {}
