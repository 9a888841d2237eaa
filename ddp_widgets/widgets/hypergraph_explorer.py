"""HypergraphExplorer: classes and SVD neurons of the chosen layers as a bipartite graph (ipycytoscape).

Each hyperedge (an SVD neuron "layer:k"; a class in the dual) is drawn as a node linked to its members
(the classes whose mean signal that neuron influences). Hyperedges sit in rows above and below the row
of members, ordered to limit crossings, and are coloured by s-connected component.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from ..core.errors import ViewError
from ..selection import Selection
from ._base import View, callback, check_settings, esc, interaction, note_html, safe_name
from .graph_adapter import CytoscapeAdapter

__all__ = ["HypergraphExplorer", "graph_elements"]

PALETTE = [
    "#4e79a7",
    "#59a14f",
    "#e15759",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#ff9da7",
    "#9c755f",
    "#f28e2b",
    "#bab0ac",
]
CLASS_COLOR, NEURON_COLOR, LONE_COLOR = "#f4a261", "#4e79a7", "#c8c8c8"
GAP, MEMBER_ROW_GAP, ROW_GAP = 110.0, 70.0, 130.0  # model units; the view fits the drawing
ASPECT = 2.45  # width / height of the graph area (the explorer's: ~980 x 350 px beside the controls)
MAX_STRETCH = 3.0  # a flat drawing (few rows) is spread vertically up to this factor to fill the area
GRAPH_CACHE = 64  # hypergraphs (and their drawings) kept per view, by layers and control values
# what Explorer.save stores of this view: control -> type
SETTINGS: dict[str, Any] = {
    "follow": bool,
    "layers": list,
    "top_k": int,
    "threshold": (int, float),
    "s": int,
    "collapse": bool,
    "dual": bool,
    "center": bool,
}


def _grid(n_members: int, n_hyper: int) -> tuple[int, int, int]:
    """(columns, member rows, hyperedge rows) giving the drawing about the view's aspect ratio.

    One row of members is preferred (extra member rows cost a little), hyperedge rows are split
    above and below them.
    """
    best: tuple[float, int] = (math.inf, 1)
    for cols in range(1, max(n_members, n_hyper, 1) + 1):
        m_rows, h_rows = max(1, math.ceil(n_members / cols)), max(1, math.ceil(n_hyper / cols))
        width = max(cols - 1, 1) * GAP
        height = (m_rows - 1) * MEMBER_ROW_GAP + h_rows * ROW_GAP
        # any aspect within a factor 2 of the target is as good; each extra member row costs a little
        score = max(0.0, abs(math.log(width / height / ASPECT)) - math.log(2)) + 0.6 * (m_rows - 1)
        best = min(best, (score, cols))
    cols = best[1]
    return cols, max(1, math.ceil(n_members / cols)), max(1, math.ceil(n_hyper / cols))


def _node_id(info: dict[str, Any], name: str) -> str:
    if "class_index" in info:
        return f"c|{info['class_index']}"
    if "layer" in info and "alpha" in info:
        return f"n|{info['layer']}:{info['alpha']}"
    return f"x|{name}"


def _kind(info: dict[str, Any]) -> str:
    return "class" if "class_index" in info else "neuron"


MAX_LABEL = 12  # characters of a node label; the full name is in its tooltip


def short_label(info: dict[str, Any], name: Any, layers: Sequence[str]) -> str:
    """A node's label, short enough not to overlap its neighbours: an SVD neuron is "k" (one layer drawn)
    or "Lj:k" (several; the note lists Lj = layer), a class its name cut to MAX_LABEL characters."""
    if "layer" in info and "alpha" in info:
        layer = str(info["layer"])
        if len(layers) <= 1 or layer not in layers:
            return str(info["alpha"])
        return f"L{list(layers).index(layer)}:{info['alpha']}"
    text = str(name)
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def graph_elements(
    hg: Any, *, s: int = 1, collapse: bool = False, max_elements: int = 300, layers: Sequence[str] = ()
) -> dict[str, Any]:
    """Nodes and links (plain dicts) drawing a ClassHypergraph as a bipartite graph, with a cap.

    Labels are short (`short_label`; `layers`: the layers drawn, in the order of their legend "Lj");
    tooltips hold the full names. Returns {"nodes", "links", "ids" (hypergraph name -> drawn node id),
    "members" (drawn id -> names), "n_edges", "n_shown", "n_components", "capped"}.
    """
    edges: dict[str, dict[str, float]] = {e: dict(m) for e, m in hg.edges.items() if m}
    groups: dict[frozenset, list[str]] = {}
    for e, members in edges.items():
        groups.setdefault(frozenset(members) if collapse else frozenset([("__", e)]), []).append(e)
    comps = hg.s_components(s)
    comp_of = {e: i for i, comp in enumerate(sorted(comps, key=lambda c: (-len(c), sorted(c)))) for e in comp}
    comp_size = {i: len(c) for i, c in enumerate(sorted(comps, key=lambda c: (-len(c), sorted(c))))}
    # hyperedges in decreasing total weight; keep as many as fit the cap
    hyper = sorted(groups.values(), key=lambda g: (-sum(edges[g[0]].values()), g[0]))
    member_names = (
        list(hg.node_info) if not hg.dual else sorted({n for m in edges.values() for n in m}, key=str)
    )
    kept, used = [], len(member_names)
    for g in hyper:
        cost = 1 + len(edges[g[0]])
        if used + cost > max_elements and kept:
            break
        kept.append(g)
        used += cost
    if hg.dual:  # members are neurons: only those linked to a kept class
        linked = {n for g in kept for n in edges[g[0]]}
        member_names = [n for n in member_names if n in linked]
    cols, m_rows, n_rows = _grid(len(member_names), len(kept))
    width = max(cols - 1, 1) * GAP
    pos = {}
    for i, n in enumerate(member_names):  # member rows in the middle band, each spread over the width
        r, q = divmod(i, cols)
        in_row = min(cols, len(member_names) - r * cols)
        pos[n] = (
            (q + 0.5) * width / in_row if in_row > 1 else width / 2,
            (r - (m_rows - 1) / 2) * MEMBER_ROW_GAP,
        )
    kept.sort(key=lambda g: sum(pos[n][0] for n in edges[g[0]]) / len(edges[g[0]]))  # barycentre order
    band = (m_rows - 1) / 2 * MEMBER_ROW_GAP
    nodes, links, ids, members = [], [], {}, {}
    for n in member_names:
        info = hg.node_info.get(n, {})
        nid = _node_id(info, n)
        ids[n], members[nid] = nid, [n]
        nodes.append(
            {
                "id": nid,
                "label": short_label(info, n, layers),
                "kind": _kind(info),
                "classes": _kind(info),
                "x": pos[n][0],
                "y": pos[n][1],
                "color": CLASS_COLOR if _kind(info) == "class" else NEURON_COLOR,
                "tooltip": f"{esc(n)} ({_kind(info)})",
                **{k: v for k, v in info.items() if k in ("layer", "alpha", "class_index")},
            }
        )
    for row in range(n_rows):
        chunk = kept[row::n_rows]  # interleave so each row spans the whole width
        y = (-1 if row % 2 == 0 else 1) * (band + ROW_GAP * (1 + row // 2))  # alternately above and below
        for j, g in enumerate(chunk):
            first = g[0]
            info = hg.edge_info.get(first, {})
            nid = _node_id(info, first) if len(g) == 1 else "m|" + _node_id(info, first)
            x = (j + 0.5) * width / len(chunk) if len(chunk) > 1 else width / 2
            comp = comp_of.get(first, -1)
            color = PALETTE[comp % len(PALETTE)] if comp_size.get(comp, 1) > 1 else LONE_COLOR
            label = short_label(info, first, layers) + (f" +{len(g) - 1}" if len(g) > 1 else "")
            tip = f"{esc(first)}" + (f" and {', '.join(esc(e) for e in g[1:])}" if len(g) > 1 else "")
            tip += "<br>members: " + ", ".join(esc(m) for m in edges[first])
            cls = f"{_kind(info)} hyperedge"
            nodes.append(
                {
                    "id": nid,
                    "label": label,
                    "kind": _kind(info),
                    "classes": cls,
                    "x": x,
                    "y": y,
                    "color": color,
                    "tooltip": tip,
                    **{k: v for k, v in info.items() if k in ("layer", "alpha", "class_index")},
                }
            )
            members[nid] = list(g)
            for e in g:
                ids[e] = nid
            top = max(edges[first].values()) or 1.0
            for m, w in edges[first].items():
                if m in ids:
                    links.append(
                        {"source": nid, "target": ids[m], "width": round(1.0 + 3.0 * abs(w) / abs(top), 2)}
                    )
    _stretch_to_aspect(nodes)
    return {
        "nodes": nodes,
        "links": links,
        "ids": ids,
        "members": members,
        "n_edges": len(edges),
        "n_groups": len(hyper),
        "n_shown": len(kept),
        "n_components": len(comps),
        "capped": len(kept) < len(hyper),
    }


def _stretch_to_aspect(nodes: list[dict[str, Any]]) -> None:
    """Spread a drawing much flatter than the graph area vertically (up to MAX_STRETCH), in place: the
    view fits the drawing to the area, and a flat one would leave most of it empty."""
    if len(nodes) < 2:
        return
    xs, ys = [n["x"] for n in nodes], [n["y"] for n in nodes]
    width, height = max(xs) - min(xs) + GAP, max(ys) - min(ys) + ROW_GAP / 2  # node and label room
    factor = min(MAX_STRETCH, width / height / ASPECT)
    if factor > 1.0:
        for n in nodes:
            n["y"] = round(n["y"] * factor, 3)


def _layer_legend(layers: Sequence[str]) -> str:
    if len(layers) == 1:
        return f"SVD neurons k of layer <b>{esc(layers[0])}</b>"
    return "SVD neurons Lj:k of " + ", ".join(f"<b>L{j}</b> = {esc(n)}" for j, n in enumerate(layers))


class HypergraphExplorer(View):
    """Classes and SVD neurons of the chosen layers as a bipartite graph; click a node to select it.

    Controls: layers (or follow the selected layer), top-k candidate neurons per layer, the influence
    threshold, s (colours s-connected components), collapse (merge hyperedges with the same members),
    dual (classes as hyperedges), centred (class means minus the overall mean). At most `max_elements`
    nodes + links are drawn; larger graphs keep their heaviest hyperedges and say so.
    Observes ``layer``, ``neuron``, ``neurons``, ``class_label`` and ``class_labels`` (all selected
    neurons and classes are highlighted together).
    """

    def __init__(
        self,
        profile: Any,
        selection: Selection | None = None,
        *,
        layers: Sequence[str] | None = None,
        top_k: int = 16,
        threshold: float | None = None,
        s: int = 1,
        collapse: bool = False,
        dual: bool = False,
        center: bool = False,
        max_elements: int = 300,
        height: str = "380px",
    ) -> None:
        super().__init__(selection)
        self.profile = profile
        self.max_elements = max_elements
        self.graph = CytoscapeAdapter(height=height)
        self.graph.on_node_click(self._on_node_click)
        self._elements: dict[str, Any] = {"ids": {}, "members": {}}
        self.hypergraph: Any = None
        plist = list(profile.layers)
        t = float(threshold if threshold is not None else getattr(profile, "meta", {}).get("threshold", 0.1))
        self.follow = widgets.Checkbox(
            value=layers is None,
            description="layers: follow the selected one",
            indent=False,
            layout=widgets.Layout(width="auto"),
        )
        followed = (self.selection.layer,) if self.selection.layer in plist else ()
        start = tuple(layers) if layers else (followed or tuple(plist[-1:]))
        # while following, the (greyed) list shows the layer the graph follows
        self.layers = widgets.SelectMultiple(
            options=plist,
            value=start,
            rows=min(6, len(plist)),
            description="",
            tooltip="the layers drawn (greyed while the graph follows the selected layer)",
            layout=widgets.Layout(width="264px"),
        )
        self.layers.disabled = self.follow.value
        slider = {
            "continuous_update": False,
            "style": {"description_width": "62px"},
            "layout": widgets.Layout(width="264px"),
        }
        self.top_k = widgets.IntSlider(value=top_k, min=1, max=64, description="top-k", **slider)
        self.threshold = widgets.FloatSlider(
            value=t, min=0.01, max=0.95, step=0.01, description="threshold", **slider
        )
        self.s = widgets.IntSlider(value=s, min=1, max=6, description="s", **slider)
        box = {"indent": False, "layout": widgets.Layout(width="auto")}
        self.collapse = widgets.Checkbox(value=collapse, description="collapse", **box)
        self.dual = widgets.Checkbox(value=dual, description="dual", **box)
        self.center = widgets.Checkbox(value=center, description="centred", **box)
        self.note = widgets.HTML("")
        self._holding = False  # True while settings are applied together (one rebuild at the end)
        self._drawn_layers: list[str] = []
        self._graphs: dict[
            tuple[Any, ...], tuple[Any, dict[str, Any]]
        ] = {}  # controls -> (hypergraph, drawing)
        for w in (
            self.follow,
            self.layers,
            self.top_k,
            self.threshold,
            self.s,
            self.collapse,
            self.dual,
            self.center,
        ):
            w.observe(self._on_control, names="value")
        self._watch(self._on_layer, ["layer"])
        self._watch(self._on_highlight, ["neuron", "neurons", "class_label", "class_labels"])
        # the controls in a column beside the graph (a row of them above it left half the width empty)
        controls = widgets.VBox(
            [
                widgets.HTML(
                    note_html(
                        "<b>Class hypergraph</b>: SVD neurons ▢ and classes ●; click a node to select it"
                    )
                ),
                self.follow,
                self.layers,
                self.top_k,
                self.threshold,
                self.s,
                widgets.HBox([self.collapse, self.dual, self.center]),
                self.note,
            ],
            layout=widgets.Layout(flex="0 0 270px", min_width="0"),
        )
        controls.add_class("ddp-graph-controls")
        self.graph.widget.layout.flex = "1 1 400px"
        self.children = [
            widgets.HBox(
                [controls, self.graph.widget], layout=widgets.Layout(flex_flow="row wrap", width="100%")
            ),
            self.export_bar,
            self.errors,
        ]
        self.rebuild()

    # -- graph ---------------------------------------------------------------------------------------
    def chosen_layers(self) -> list[str]:
        if self.follow.value:
            name = self.selection.layer
            return [name] if name in self.profile.layers else []
        return list(self.layers.value)

    def rebuild(self) -> None:
        """Recompute the hypergraph from the controls and redraw it."""
        layers = self.chosen_layers()
        if not layers:
            self.hypergraph = None
            self._elements = {"ids": {}, "members": {}}
            self.graph.set_graph([], [])
            name = self.selection.layer
            why = f"layer {esc(name)} was not profiled" if name is not None else "no layer selected"
            self.note.value = note_html(f"Nothing to draw: {why if self.follow.value else 'choose layers'}.")
            return
        self._drawn_layers = list(layers)
        self.hypergraph, el = self._graph_for(layers)
        self._elements = el
        with self._sync():
            self.graph.set_graph(el["nodes"], el["links"])
            self._highlight()
        what = ("classes", "SVD neurons") if self.dual.value else ("SVD neurons", "classes")
        text = (
            f"{el['n_edges']} hyperedges ({what[0]}) on {len(el['nodes']) - el['n_shown']} {what[1]} · "
            f"{el['n_components']} s-components (s = {self.s.value}) · " + _layer_legend(layers)
        )
        if self.collapse.value and el["n_groups"] < el["n_edges"]:
            text += f" · collapsed into {el['n_groups']}"
        if el["capped"]:
            text = (
                f"<b>Showing {el['n_shown']} of {el['n_groups']} hyperedges</b>: the drawing is capped at "
                f"{self.max_elements} elements (lower top-k or pick fewer layers). " + text
            )
        self.note.value = note_html(text, "warn" if el["capped"] else "note")

    def _graph_for(self, layers: list[str]) -> tuple[Any, dict[str, Any]]:
        """The hypergraph and its drawing for these layers and controls, computed once (a revisit is free)."""
        key = (
            tuple(layers),
            self.top_k.value,
            self.threshold.value,
            self.dual.value,
            self.center.value,
            self.s.value,
            self.collapse.value,
            self.max_elements,
        )
        if key not in self._graphs:
            hg = self.profile.hypergraph(
                layers,
                top_k=self.top_k.value,
                threshold=self.threshold.value,
                dual=self.dual.value,
                center=self.center.value,
            )
            el = graph_elements(
                hg,
                s=self.s.value,
                collapse=self.collapse.value,
                max_elements=self.max_elements,
                layers=layers,
            )
            if len(self._graphs) >= GRAPH_CACHE:
                self._graphs.pop(next(iter(self._graphs)))
            self._graphs[key] = (hg, el)
        return self._graphs[key]

    def _selected_ids(self) -> set[str]:
        sel, ids = self.selection, self._elements["ids"]
        chosen = set()
        for c in {sel.class_label, *sel.class_labels} - {None}:
            chosen.add(f"c|{c}")
        if sel.layer is not None:
            chosen |= {f"n|{sel.layer}:{k}" for k in {sel.neuron, *sel.neurons} - {None}}
        drawn = set(self._elements["members"])
        out = {i for i in chosen if i in drawn}
        # hyperedges merged by collapse, or nodes named differently: map through the names
        for name, nid in ids.items():
            info = (
                (self.hypergraph.edge_info.get(name) or self.hypergraph.node_info.get(name) or {})
                if self.hypergraph
                else {}
            )
            if _node_id(info, name) in chosen:
                out.add(nid)
        return out

    def _highlight(self) -> None:
        chosen = self._selected_ids()
        classes = {}
        for n in self._elements.get("nodes", []):
            base = n["classes"]
            classes[n["id"]] = base + (" sel" if n["id"] in chosen else "")
        self.graph.set_classes(classes)

    @property
    def highlighted(self) -> list[str]:
        """Ids of the drawn nodes highlighted as selected."""
        return [i for i in self.graph.node_ids if "sel" in self.graph.node_classes(i).split()]

    # -- figures and settings ------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The hypergraph drawn now, in HyperNetX's own drawing."""
        if self.hypergraph is None or not any(self.hypergraph.edges.values()):
            return {}
        from .. import figures as figs

        layers = self.chosen_layers()
        return {f"hypergraph_{safe_name('+'.join(layers))}": figs.class_hypergraph(self.hypergraph)}

    def snapshot_figures(self) -> dict[str, Any]:
        """The drawing as laid out in the view (quicker than HyperNetX's layout, and what the view shows)."""
        if not self._elements.get("nodes"):
            return {}
        from .. import figures as figs

        chosen = self._selected_ids()
        return {
            "graph": figs.graph_layout(
                self._elements["nodes"],
                self._elements["links"],
                chosen,
                title=f"class hypergraph · {', '.join(self.chosen_layers())}",
            )
        }

    def settings(self) -> dict[str, Any]:
        out = {k: getattr(self, k).value for k in SETTINGS}
        out["layers"] = list(out["layers"])
        return out

    def apply_settings(self, settings: Any) -> None:
        s = check_settings("HypergraphExplorer", settings, SETTINGS)
        unknown = [n for n in s.get("layers", []) if n not in self.profile.layers]
        if unknown:
            raise ViewError(
                f"HypergraphExplorer settings name layers {unknown} that the profile does not hold: "
                f"use some of {list(self.profile.layers)}"
            )
        self._holding = True
        try:
            for key, value in s.items():
                getattr(self, key).value = tuple(value) if key == "layers" else value
        finally:
            self._holding = False
        self.layers.disabled = self.follow.value
        self.rebuild()

    # -- selection -> widgets ------------------------------------------------------------------------
    @callback
    def _on_layer(self, change: Any) -> None:
        if self.follow.value:
            self._show_followed()
            self.rebuild()
        else:
            self._highlight()

    @callback
    def _on_highlight(self, change: Any) -> None:
        self._highlight()

    @callback
    def _on_control(self, change: Any) -> None:
        self.layers.disabled = self.follow.value
        if change["owner"] is self.follow:
            if change["new"]:
                self._show_followed()
            elif self.hypergraph is not None and list(self.layers.value) == self._drawn_layers:
                return  # unticking "follow" keeps the graph where it is: the list already shows its layer
        if not self._holding:
            self.rebuild()

    def _show_followed(self) -> None:
        """Show the followed layer in the (greyed) layer list, without rebuilding for it."""
        name = self.selection.layer
        if name in self.profile.layers and tuple(self.layers.value) != (name,):
            self.layers.unobserve(
                self._on_control, names="value"
            )  # a display of the state, not a control change
            try:
                self.layers.value = (name,)
            finally:
                self.layers.observe(self._on_control, names="value")

    # -- user interaction -> selection ---------------------------------------------------------------
    @interaction
    def _on_node_click(self, node_id: str) -> None:
        names = self._elements["members"].get(node_id)
        if not names or self.hypergraph is None:
            return
        name = names[0]
        info = self.hypergraph.edge_info.get(name) or self.hypergraph.node_info.get(name) or {}
        if "class_index" in info:
            self.selection.class_label = int(info["class_index"])
        elif "layer" in info:
            self.selection.select(layer=info["layer"], neuron=int(info["alpha"]))
