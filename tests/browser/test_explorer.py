"""The explorer in a real JupyterLab (Playwright + Debian's chromium): it renders (bqplot SVG, cytoscape
canvas, image grids), and a layer chosen in the list, a point clicked in the spectrum plot and a node
clicked in the hypergraph move the other views and the selection read back from Python."""

from __future__ import annotations

SETUP = """\
import ddp_widgets as dw
ex = dw.explore(progress=False)
ex
"""

GRAPH_NODE_AT = """(id) => {
  const el = document.querySelector('.ddp-graph');
  const cy = el && el._cyreg && el._cyreg.cy;
  if (!cy) return null;
  const node = cy.getElementById(id);
  if (!node || node.empty()) return null;
  const p = node.renderedPosition();
  const box = el.getBoundingClientRect();
  return { x: box.left + p.x, y: box.top + p.y, n: cy.nodes().length };
}"""


def count(selector: str) -> str:
    """JavaScript: the number of elements matching `selector`."""
    return f"document.querySelectorAll('{selector}').length"


def _rank_title(page) -> str:  # noqa: ANN001
    return page.locator(".ddp-rank-fig .mainheading").first.text_content()


def test_explorer_renders_and_its_views_are_linked(lab, lab_page):  # noqa: ANN001
    lab.write_notebook("explorer.ipynb", [SETUP])
    page = lab_page.page
    page.set_viewport_size({"width": 1280, "height": 1800})  # the whole explorer on screen, for screenshots
    lab_page.open_notebook("explorer.ipynb")
    assert lab_page.run_all_cells(), lab_page.cell_errors()
    explorer = page.locator(".ddp-explorer").first
    explorer.wait_for()
    # everything rendered: bqplot SVGs, the cytoscape canvas, decoded image tiles
    page.wait_for_function("() => document.querySelectorAll('.ddp-explorer .bqplot svg').length >= 4")
    page.wait_for_function("() => document.querySelectorAll('.ddp-graph canvas').length >= 1")
    page.wait_for_function(f"() => {count('.ddp-filters .ddp-ImageGrid-tile canvas')} === 9")
    page.wait_for_function(f"() => {count('.ddp-top-images .ddp-ImageGrid-tile canvas')} === 8")
    page.wait_for_function(GRAPH_NODE_AT.replace("(id) =>", "() => ((id) =>") + ")('c|0') !== null")
    page.wait_for_timeout(500)  # let the bqplot transitions settle before the screenshot
    lab_page.screenshot("explorer_initial", explorer)
    assert "features.0" in _rank_title(page)

    # choosing a layer in the list changes the spectrum plot
    dots_before = page.locator(".ddp-rank-fig .object_grp").count()
    page.locator(".ddp-layer-selector select").select_option(index=3)  # features.7
    assert lab_page.wait_for_python("ex.selection.layer", "features.7") == "features.7"
    page.wait_for_function(
        "() => document.querySelector('.ddp-rank-fig .mainheading').textContent.includes('features.7')"
    )
    page.wait_for_function(f"() => {count('.ddp-rank-fig .object_grp')} !== {dots_before}")
    assert page.locator(".ddp-rank-fig .object_grp").count() == 64

    # clicking a point of the spectrum plot changes the singular-vector view
    page.wait_for_timeout(600)
    page.locator(".ddp-rank-fig .object_grp").nth(3).click(force=True)
    assert lab_page.wait_for_python("ex.selection.singular_index", 3) == 3
    page.wait_for_function(
        "() => { const t = document.querySelector('.ddp-filters .ddp-mod-selected');"
        " return t && t.dataset.index === '3'; }"
    )
    # the neuron's name: "features.7:3" here, "SVD neuron 3 of features.7" once issue 10's names land
    page.wait_for_function(
        "() => { const t = document.querySelector('.ddp-singularvectorview').textContent;"
        " return t.includes('features.7:3') || t.includes('SVD neuron 3 of features.7'); }"
    )
    lab_page.screenshot("explorer_layer_and_neuron", explorer)

    # clicking a hypergraph node changes the selection read back from Python
    graph = page.locator(".ddp-graph").first
    graph.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    where = page.evaluate(GRAPH_NODE_AT, "c|4")
    assert where is not None, "class node c|4 is not drawn"
    page.mouse.click(where["x"], where["y"])
    assert lab_page.wait_for_python("ex.selection.class_label", 4) == 4
    assert lab_page.python("ex.hypergraph.highlighted").count("c|4") == 1
    page.wait_for_timeout(300)
    lab_page.screenshot("explorer_hypergraph_click", page.locator(".ddp-hypergraphexplorer").first)

    # redraws that used to break the front ends: a hypergraph whose nodes change places (dual, collapse)
    # and the log/linear switch that replaces the spectrum plot's marks and axes
    lab_page.execute("ex.hypergraph.dual.value = True; ex.hypergraph.collapse.value = True")
    lab_page.execute("ex.spectrum.log_esd.value = False; ex.spectrum.log_sigma.value = False")
    drawn = lab_page.python("len(ex.hypergraph.graph.node_ids)")
    page.wait_for_function(f"() => document.querySelector('.ddp-graph')._cyreg.cy.nodes().length === {drawn}")
    page.wait_for_function("() => document.querySelectorAll('.ddp-rank-fig .object_grp').length === 64")
    assert lab_page.python("[v.last_error is None for v in ex.views]") == [True] * 5
    # ipycytoscape 1.3.3 warns about its @jupyter-widgets/base range on every page load: harmless
    lab_page.assert_no_console_errors(allow=("Unsatisfied version",))
