"""The hypergraph re-fits after its output is resized (issue 14): the JupyterLab extension's
`ddp-widgets:graph-fit` plugin fits the view to the visible graph once the size has settled, so opening the
side panel or narrowing the window leaves no node outside the canvas; clicks, which keep the size, do not
re-fit."""

from __future__ import annotations

from typing import Any

SETUP = """\
import ddp_widgets as dw
ex = dw.explore(progress=False)
ex
"""

CY = "const el = document.querySelector('.ddp-graph'); const cy = el && el._cyreg && el._cyreg.cy;"
# every visible node's rendered centre against the canvas box, and the drawn extent as a share of it
PLACEMENT = (
    "() => {"
    + CY
    + """ if (!cy) return null;
  const w = el.clientWidth, h = el.clientHeight;
  const nodes = cy.nodes(':visible');
  const outside = nodes.filter(n => { const p = n.renderedPosition();
    return p.x < 0 || p.x > w || p.y < 0 || p.y > h; }).map(n => n.id());
  const bb = nodes.renderedBoundingBox();
  return { n: nodes.length, outside, width: w, height: h, zoom: cy.zoom(),
           extent: Math.max((bb.x2 - bb.x1) / w, (bb.y2 - bb.y1) / h) }; }"""
)
# counts fits of the view from now on (cytoscape emits "viewport" on every zoom or pan)
COUNT_FITS = "() => {" + CY + " window.__ddpViewport = 0; cy.on('viewport', () => window.__ddpViewport++); }"


def _placement(page: Any) -> dict[str, Any]:
    result = page.evaluate(PLACEMENT)
    assert result is not None and result["n"] > 0, result
    return result


def _assert_fitted(page: Any, when: str) -> dict[str, Any]:
    placed = _placement(page)
    assert placed["outside"] == [], f"{when}: nodes outside the canvas: {placed}"
    # fitted: the graph spans the canvas, less the fit's padding, in width or in height
    assert placed["extent"] > 0.85, f"{when}: the graph fills only part of the canvas: {placed}"
    return placed


def test_the_hypergraph_refits_after_its_output_is_resized(lab: Any, lab_page: Any) -> None:
    lab.write_notebook("graph_resize.ipynb", [SETUP])
    page = lab_page.page
    page.set_viewport_size({"width": 1440, "height": 900})
    lab_page.open_notebook("graph_resize.ipynb")
    assert lab_page.run_all_cells(), lab_page.cell_errors()
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    ids = lab_page.python("ex.hypergraph.graph.node_ids")
    page.wait_for_function(
        "(n) => {" + CY + " return !!cy && cy.nodes(':visible').length === n; }", arg=len(ids)
    )
    page.evaluate("() => document.querySelector('.ddp-graph').scrollIntoView({block: 'center'})")
    page.wait_for_timeout(800)
    wide = _assert_fitted(page, "at 1440 px")

    # the file browser opens: the notebook, and the graph with it, gets narrower
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    page.wait_for_timeout(1000)
    narrow = _assert_fitted(page, "with the side panel open")
    assert narrow["width"] < wide["width"] - 100, (wide, narrow)
    lab_page.screenshot("graph_after_side_panel", page.locator(".ddp-graph"))

    # a narrower window, then the side panel closed again: wider than the last fit
    page.set_viewport_size({"width": 1024, "height": 900})
    page.wait_for_timeout(1000)
    _assert_fitted(page, "at 1024 px with the side panel")
    lab_page.screenshot("graph_1024_side_panel", page.locator(".ddp-graph"))
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.wait_for_timeout(1000)
    _assert_fitted(page, "at 1024 px without the side panel")

    # a new selection (what a click on a node does) keeps the size: no fit of the view follows
    page.evaluate(COUNT_FITS)
    lab_page.execute("ex.selection.class_label = 1")
    page.wait_for_function("() => {" + CY + " return cy.getElementById('c|1').hasClass('sel'); }")
    page.wait_for_timeout(600)
    assert page.evaluate("() => window.__ddpViewport") == 0
    lab_page.assert_no_console_errors(allow=("Unsatisfied version",))


# viewport centres of the visible nodes, and where the graph's box is in the page
NODES_ON_PAGE = (
    "() => {"
    + CY
    + """ const b = el.getBoundingClientRect();
  return { top: b.top, nodes: cy.nodes(':visible').map(n => { const p = n.renderedPosition();
    return { id: n.id(), x: b.left + p.x, y: b.top + p.y }; }) }; }"""
)


def test_a_node_is_clicked_where_it_is_drawn_after_the_graph_moved(lab: Any, lab_page: Any) -> None:
    """Cytoscape maps pointer positions with a cached position of its container; a layer whose filter grid
    has fewer rows moves the graph up without any resize or scroll. The extension forgets that cache when
    the pointer enters or presses, so a click still lands on the node under it (before: on nothing)."""
    lab.write_notebook("graph_moved.ipynb", [SETUP])
    page = lab_page.page
    page.set_viewport_size({"width": 1440, "height": 2600})  # everything on screen: no scrolling at all
    lab_page.open_notebook("graph_moved.ipynb")
    assert lab_page.run_all_cells(), lab_page.cell_errors()
    page.wait_for_function("() => {" + CY + " return !!cy && cy.nodes(':visible').length > 0; }")
    names = lab_page.python("list(ex.analysis.names)")
    tops = {}
    for name in (names[-1], names[1]):  # a Linear layer, then a conv layer with a full filter grid
        page.mouse.move(5, 5)  # away from the graph, as after a click in the layer list
        lab_page.execute(f"ex.selection.layer = {name!r}")
        page.wait_for_timeout(900)
        tops[name] = page.evaluate(NODES_ON_PAGE)["top"]
    assert abs(tops[names[-1]] - tops[names[1]]) > 20, f"the graph did not move on the page: {tops}"
    target = next(n for n in page.evaluate(NODES_ON_PAGE)["nodes"] if n["id"].startswith("c|"))
    page.mouse.move(target["x"], target["y"])
    page.mouse.down()
    page.mouse.up()
    want = int(target["id"].split("|")[1])
    for _ in range(40):
        if lab_page.python("ex.selection.class_label") == want:
            break
        page.wait_for_timeout(100)
    assert lab_page.python("ex.selection.class_label") == want, f"the click on {target['id']} was lost"
