"""The hypergraph keeps the graphs it has drawn (graph_adapter.CytoscapeAdapter): in a real JupyterLab, going
back to a layer shows its graph again without any new node or edge widget, only that graph's elements are
visible, the view is fitted to them, and the graph shown again follows the selection and answers clicks."""

from __future__ import annotations

from typing import Any

SETUP = """\
import ipywidgets
import ddp_widgets as dw
ex = dw.explore(progress=False)
ex
"""

CY = "const el = document.querySelector('.ddp-graph'); const cy = el && el._cyreg && el._cyreg.cy;"
NODE_AT = (
    "(id) => {"
    + CY
    + """ if (!cy) return null; const n = cy.getElementById(id); if (n.empty()) return null;
  const p = n.renderedPosition(); const box = el.getBoundingClientRect();
  return { x: box.left + p.x, y: box.top + p.y, sel: n.hasClass('sel'), visible: n.visible() }; }"""
)
# the visible elements' drawn extent, as fractions of the graph area (fitted: inside it and filling it)
EXTENT = (
    "() => {"
    + CY
    + """ const bb = cy.elements(':visible').renderedBoundingBox();
  const w = el.clientWidth, h = el.clientHeight;
  return { x1: bb.x1 / w, x2: bb.x2 / w, y1: bb.y1 / h, y2: bb.y2 / h, n: cy.nodes(':visible').length }; }"""
)


def _show_layer(lab_page: Any, name: str) -> None:
    lab_page.execute(f"ex.selection.layer = {name!r}")
    ids = lab_page.python("ex.hypergraph.graph.node_ids")
    lab_page.page.wait_for_function(
        "(ids) => { const els = document.querySelectorAll('.ddp-graph');"
        " const cy = els.length === 1 && els[0]._cyreg && els[0]._cyreg.cy;"
        " return !!cy && cy.nodes(':visible').length === ids.length"
        " && ids.every(i => cy.getElementById(i).visible()); }",
        arg=ids,
    )


def _fitted(lab_page: Any) -> None:
    lab_page.page.wait_for_timeout(300)
    e = lab_page.page.evaluate(EXTENT)
    assert -0.02 <= e["x1"] and e["x2"] <= 1.02 and -0.02 <= e["y1"] and e["y2"] <= 1.02, e
    assert e["x2"] - e["x1"] > 0.5 or e["y2"] - e["y1"] > 0.5, e


def test_a_graph_drawn_before_is_shown_again_without_new_widgets(lab: Any, lab_page: Any) -> None:
    lab.write_notebook("latency_graph.ipynb", [SETUP])
    page = lab_page.page
    page.set_viewport_size({"width": 1280, "height": 1800})
    lab_page.open_notebook("latency_graph.ipynb")
    assert lab_page.run_all_cells(), lab_page.cell_errors()
    page.wait_for_function("() => document.querySelectorAll('.ddp-graph canvas').length >= 1")
    names = lab_page.python("list(ex.analysis.names)")
    first, other = names[-1], names[-2]
    _show_layer(lab_page, first)
    _fitted(lab_page)
    _show_layer(lab_page, other)
    _fitted(lab_page)
    n_widgets = lab_page.python("len(ipywidgets.Widget.widgets)")
    _show_layer(lab_page, first)  # back: no new node or edge widget
    assert lab_page.python("len(ipywidgets.Widget.widgets)") == n_widgets
    _fitted(lab_page)
    # the graph shown again follows the selection and answers a click on one of its nodes
    ids = lab_page.python("[i for i in ex.hypergraph.graph.node_ids if i.startswith('c|')]")
    target = next(i for i in ids if not page.evaluate(NODE_AT, i)["sel"])
    # the explorer is taller than the page: bring the graph into view before clicking on it
    page.evaluate("() => document.querySelector('.ddp-graph').scrollIntoView({block: 'center'})")
    page.wait_for_timeout(300)
    where = page.evaluate(NODE_AT, target)
    assert where["visible"] and 0 <= where["y"] <= page.viewport_size["height"], where
    page.mouse.move(where["x"], where["y"])
    page.mouse.down()
    page.mouse.up()
    assert lab_page.wait_for_python("ex.selection.class_label", int(target[2:])) == int(target[2:])
    page.wait_for_function(f"() => ({NODE_AT})({target!r}).sel === true")
    lab_page.execute("ex.selection.class_label = None")
    page.wait_for_function(f"() => ({NODE_AT})({target!r}).sel === false")
    assert lab_page.python("ex.hypergraph.last_error is None")
    lab_page.assert_no_console_errors(allow=("Unsatisfied version",))


def _graph(layer: str, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Class nodes c|0, c|1 shared by every layer, n neuron nodes of `layer`, each linked to c|0."""
    nodes = [
        {"id": f"c|{c}", "label": str(c), "classes": "class", "x": 100.0 * c, "y": 0.0} for c in range(2)
    ]
    nodes += [
        {
            "id": f"n|{layer}:{a}",
            "label": f"{layer}:{a}",
            "classes": "neuron hyperedge",
            "x": 50.0 * a,
            "y": -100.0,
        }
        for a in range(n)
    ]
    return nodes, [{"source": f"n|{layer}:{a}", "target": "c|0", "width": 1.0 + a} for a in range(n)]


def test_the_adapter_reuses_shared_elements_and_starts_afresh_past_its_limit() -> None:
    from ddp_widgets.widgets.graph_adapter import CytoscapeAdapter

    g = CytoscapeAdapter(max_kept=16)
    g.set_graph(*_graph("a", 3))  # 5 nodes, 3 edges
    drawing = g.cytoscape
    shared = dict(zip(g.node_ids, drawing.graph.nodes, strict=True))["c|0"]
    g.set_graph(*_graph("b", 4))  # adds 4 nodes and 4 edges; c|0 and c|1 are shared
    assert g.n_kept == 8 + 8 and g.node_ids[:2] == ["c|0", "c|1"] and g.n_elements == 6 + 4
    assert "g2" in shared.classes.split() and "g1" in shared.classes.split()
    nodes = list(drawing.graph.nodes)
    g.set_graph(*_graph("a", 3))  # drawn before: nothing new
    assert list(drawing.graph.nodes) == nodes and drawing.cytoscape_layout["eles"] == ".g1"
    g.set_classes({"c|0": "class sel", "n|b:0": "neuron sel"})  # n|b:0 is not shown: ignored
    assert g.node_classes("c|0") == "class sel" and g.node_classes("n|b:0") == ""
    g.click("c|1")  # no callback yet: nothing happens
    clicked: list[str] = []
    g.on_node_click(clicked.append)
    g.click("c|1")
    g.click("n|b:0")  # hidden: not clickable
    assert clicked == ["c|1"]
    g.set_graph(*_graph("c", 5))  # 16 kept + 5 new nodes and 5 edges > 16: a new drawing, the old one closed
    assert g.cytoscape is not drawing and g.widget.children == (g.cytoscape,)
    assert drawing.comm is None and all(w.comm is None for w in nodes)
    ids = [n.data["id"] for n in g.cytoscape.graph.nodes]
    assert ids == g.node_ids and len(g.cytoscape.graph.edges) == 5 and g.n_kept == 12
    g.close()
    assert g.widget.comm is None and g.cytoscape.comm is None
