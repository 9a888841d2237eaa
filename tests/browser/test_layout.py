"""The explorer on one screen (issue 14): at 1440×900 the layer list, spectrum, metrics and the selected
neuron's filters and top images are visible together without scrolling; at 1024 px with JupyterLab's
file browser open nothing is clipped; several SVD neurons and classes chosen with ctrl-click reach Python;
explore(model, data) shows a progress bar while it works. Screenshots go to test-artifacts/."""

from __future__ import annotations

SETUP = """\
import ddp_widgets as dw
ex = dw.explore(progress=False)
ex
"""

MAIN = [".ddp-layerselector", ".ddp-spectrumplot", ".ddp-layermetrics", ".ddp-filters", ".ddp-top-images"]

# the explorer's top at the top of the notebook's scroll area; every main part's box and that area's box
BOXES = """(parts) => {
  const ex = document.querySelector('.ddp-explorer');
  const scroller = ex.closest('.jp-WindowedPanel-outer') || ex.closest('.jp-Notebook');
  scroller.scrollTop += ex.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
  const box = el => {
    const r = el.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right};
  };
  return { view: box(scroller), explorer: box(ex),
           parts: Object.fromEntries(
             parts.map(p => [p, box(document.querySelector('.ddp-explorer ' + p))])) };
}"""

# what is cut off: an SVG text outside its figure, a panel outside the explorer, anything outside its panel
CLIPPED = """() => {
  const ex = document.querySelector('.ddp-explorer');
  const inside = (r, o) =>
    r.left >= o.left - 1 && r.right <= o.right + 1 && r.top >= o.top - 1 && r.bottom <= o.bottom + 1;
  const out = [];
  const exBox = ex.getBoundingClientRect();
  for (const t of ex.querySelectorAll('svg text')) {
    if (!t.textContent.trim() || t.getBBox().width === 0) continue;
    const svg = t.closest('svg').getBoundingClientRect();
    const r = t.getBoundingClientRect();
    if (!inside(r, svg)) out.push('svg text ' + JSON.stringify(t.textContent) + ' outside its figure');
  }
  for (const p of ex.querySelectorAll('.ddp-panel')) {
    const r = p.getBoundingClientRect();
    if (r.width === 0) continue;
    const name = [...p.classList].find(c => c.startsWith('ddp-') && c !== 'ddp-view' && c !== 'ddp-live');
    if (!inside(r, exBox)) out.push(name + ' outside the explorer');
    for (const c of p.querySelectorAll('*')) {
      const b = c.getBoundingClientRect();
      if (b.width > 0 && (b.right > r.right + 1 || b.left < r.left - 1))
        out.push(name + ': ' + c.tagName + '.' +
                 String(c.className.baseVal ?? c.className).slice(0, 40) + ' sticks out');
    }
  }
  return out;
}"""

# The main panels whose boxes must be filled (the layer list, spectrum, metrics, vectors, hypergraph).
PANELS = {
    "layer list": ".ddp-layerselector",
    "spectrum": ".ddp-spectrumplot",
    "metrics": ".ddp-layermetrics",
    "vectors": ".ddp-singularvectorview",
    "hypergraph": ".ddp-hypergraphexplorer",
}
MAX_EMPTY = 0.15

# The share of each panel's box that no visible content covers, on a 4 px grid. Content: the boxes of
# text lines; controls (slider tracks too), images and canvases; each chart's whole figure (plot area,
# axes, ticks, labels); the hypergraph's drawn nodes and edges (not its whole canvas). Each box is cut
# to the panel and to any scrolling ancestor, so what is scrolled out of view covers nothing. With
# `paint`, the uncovered cells are drawn over the page in red (for a screenshot; `EMPTY_UNPAINT` removes
# them).
EMPTY = """({panels, paint}) => {
  const CELL = 4;
  const shown = el => {
    const s = getComputedStyle(el);
    return s.visibility !== 'hidden' && Number(s.opacity) > 0;
  };
  const cut = (r, el, panel) => {
    let b = {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
    for (let a = el; a && a !== panel.parentElement; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (a === panel || s.overflowX !== 'visible' || s.overflowY !== 'visible') {
        const o = a.getBoundingClientRect();
        b = {left: Math.max(b.left, o.left), right: Math.min(b.right, o.right),
             top: Math.max(b.top, o.top), bottom: Math.min(b.bottom, o.bottom)};
      }
    }
    return b;
  };
  const contentBoxes = panel => {
    const boxes = [];
    const texts = document.createTreeWalker(panel, NodeFilter.SHOW_TEXT);
    for (let t = texts.nextNode(); t; t = texts.nextNode()) {
      const el = t.parentElement;
      if (!t.textContent.trim() || !shown(el) || el.closest('.ddp-graph') || el.closest('.bqplot')) continue;
      const range = document.createRange();
      range.selectNodeContents(t);
      for (const r of range.getClientRects()) boxes.push(cut(r, el, panel));
    }
    const solid = 'img, canvas, input, select, textarea, button, progress, .bqplot > svg, .noUi-target';
    for (const el of panel.querySelectorAll(solid)) {
      if (!el.closest('.ddp-graph') && shown(el)) boxes.push(cut(el.getBoundingClientRect(), el, panel));
    }
    for (const el of panel.querySelectorAll('.ddp-graph')) {
      const cy = el._cyreg && el._cyreg.cy;
      if (!cy) continue;
      const bb = cy.elements(':visible').renderedBoundingBox(), o = el.getBoundingClientRect();
      const r = {left: o.left + bb.x1, right: o.left + bb.x2, top: o.top + bb.y1, bottom: o.top + bb.y2};
      boxes.push(cut(r, el, panel));
    }
    return boxes;
  };
  const out = {};
  for (const [name, selector] of Object.entries(panels)) {
    const panel = document.querySelector('.ddp-explorer .ddp-panel' + selector);
    if (!panel) { out[name] = null; continue; }
    const P = panel.getBoundingClientRect();
    const cols = Math.ceil(P.width / CELL), rows = Math.ceil(P.height / CELL);
    const covered = new Uint8Array(cols * rows);
    for (const b of contentBoxes(panel)) {
      const x0 = Math.max(0, Math.floor((b.left - P.left) / CELL));
      const x1 = Math.min(cols, Math.ceil((b.right - P.left) / CELL));
      const y0 = Math.max(0, Math.floor((b.top - P.top) / CELL));
      const y1 = Math.min(rows, Math.ceil((b.bottom - P.top) / CELL));
      for (let y = y0; y < y1 && x0 < x1; y++) covered.fill(1, y * cols + x0, y * cols + x1);
    }
    const empty = covered.length - covered.reduce((sum, v) => sum + v, 0);
    if (paint) {
      const overlay = document.createElement('canvas');
      overlay.className = 'ddp-test-empty-cells';
      overlay.width = cols * CELL;
      overlay.height = rows * CELL;
      overlay.style.cssText =
        `position:fixed;z-index:10000;pointer-events:none;left:${P.left}px;top:${P.top}px`;
      const g = overlay.getContext('2d');
      g.fillStyle = 'rgba(255, 0, 0, 0.35)';
      covered.forEach((v, i) => v || g.fillRect((i % cols) * CELL, Math.floor(i / cols) * CELL, CELL, CELL));
      document.body.appendChild(overlay);
    }
    out[name] = {empty: empty / covered.length, width: Math.round(P.width), height: Math.round(P.height)};
  }
  return out;
}"""
EMPTY_UNPAINT = "() => document.querySelectorAll('.ddp-test-empty-cells').forEach(d => d.remove())"


def _open_explorer(lab, lab_page, name: str, width: int, height: int) -> None:
    lab.write_notebook(name, [SETUP])
    lab_page.page.set_viewport_size({"width": width, "height": height})
    lab_page.open_notebook(name)
    assert lab_page.run_all_cells(), lab_page.cell_errors()
    page = lab_page.page
    page.locator(".ddp-explorer").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('.ddp-explorer .bqplot svg').length >= 4")
    page.wait_for_function(
        "() => document.querySelectorAll('.ddp-top-images .ddp-ImageGrid-tile canvas').length === 8"
    )
    page.wait_for_function("() => document.querySelectorAll('.ddp-graph canvas').length >= 1")
    page.wait_for_timeout(800)


def test_four_main_views_on_one_screen_and_nothing_clipped(lab, lab_page):
    page = lab_page.page
    _open_explorer(lab, lab_page, "layout.ipynb", 1440, 900)
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.wait_for_timeout(600)
    boxes = page.evaluate(BOXES, MAIN)
    page.wait_for_timeout(300)
    lab_page.screenshot("explorer_1440x900_light")
    view = boxes["view"]
    for part, r in boxes["parts"].items():
        assert r["top"] >= view["top"] - 1 and r["bottom"] <= view["bottom"] + 1, (part, r, view)
        assert r["left"] >= view["left"] - 1 and r["right"] <= view["right"] + 1, (part, r, view)
    clipped = page.evaluate(CLIPPED)
    assert clipped == [], "\n".join(clipped)

    # 1024 px with the file browser open: the columns stack, nothing is cut off
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    page.set_viewport_size({"width": 1024, "height": 900})
    page.wait_for_timeout(1200)
    assert (
        page.evaluate("() => document.querySelector('.jp-FileBrowser').getBoundingClientRect().width") > 100
    )
    boxes = page.evaluate(BOXES, MAIN)
    lab_page.screenshot("explorer_1024_sidepanel_light")
    clipped = page.evaluate(CLIPPED)
    assert clipped == [], "\n".join(clipped)
    for part, r in boxes["parts"].items():
        assert r["right"] <= boxes["view"]["right"] + 1, (part, r)
    # the ESD plot keeps its whole width
    esd = page.evaluate("() => document.querySelector('.ddp-esd-fig').getBoundingClientRect().width")
    assert esd >= 240
    page.set_viewport_size({"width": 1024, "height": 2400})  # the whole stacked explorer, for the eye
    page.wait_for_timeout(1000)
    page.evaluate(BOXES, MAIN)
    lab_page.screenshot("explorer_1024_sidepanel_full")
    lab_page.assert_no_console_errors(allow=("Unsatisfied version",))


def test_no_main_panel_is_more_than_15_percent_empty(lab, lab_page):
    page = lab_page.page
    _open_explorer(lab, lab_page, "empty.ipynb", 1440, 900)
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.wait_for_timeout(600)
    page.evaluate(BOXES, MAIN)
    # 1440 px wide, tall enough for every panel to be in view (the hypergraph sits below the four main
    # views, which test_four_main_views_on_one_screen_and_nothing_clipped checks at 1440x900)
    page.set_viewport_size({"width": 1440, "height": 1500})
    page.wait_for_timeout(800)
    page.evaluate(BOXES, MAIN)
    empty = page.evaluate(EMPTY, {"panels": PANELS, "paint": False})
    print("empty share of each main panel at 1440 px:", empty)
    page.evaluate(EMPTY, {"panels": PANELS, "paint": True})
    lab_page.screenshot("explorer_1440_empty_cells")  # the cells no content covers, in red
    page.evaluate(EMPTY_UNPAINT)
    assert all(empty.values()), f"a main panel is missing: {empty}"
    too_empty = {name: e for name, e in empty.items() if e["empty"] > MAX_EMPTY}
    assert not too_empty, f"panels more than {MAX_EMPTY:.0%} empty: {too_empty}"


# indices of the filter tiles drawn as selected
FILTERS_SELECTED = (
    "[...document.querySelectorAll('.ddp-filters .ddp-ImageGrid-tile.ddp-mod-selected')]"
    ".map(t => t.dataset.index)"
)


def test_several_neurons_and_classes_reach_python(lab, lab_page):
    page = lab_page.page
    _open_explorer(lab, lab_page, "multi.ipynb", 1440, 900)
    dots = page.locator(".ddp-rank-fig .object_grp")
    dots.nth(1).click(force=True)
    assert lab_page.wait_for_python("ex.selection.neuron", 1) == 1
    dots.nth(4).click(force=True, modifiers=["Control"])
    assert lab_page.wait_for_python("sorted(ex.selection.neurons)", [1, 4]) == [1, 4]
    # ... and the filter tiles show both selected
    page.wait_for_function("() => " + FILTERS_SELECTED + ".join() === '1,4'")
    # the detail view shows both neurons side by side: one row (filter + top images) each
    page.wait_for_function(
        "() => document.querySelectorAll('.ddp-compare .ddp-ImageGrid-tile canvas').length === 14"
    )
    assert page.evaluate(CLIPPED) == []  # the two rows fit the panel
    bars = page.locator(".ddp-singularvectorview .bargroup rect")
    bars.nth(2).click(force=True)
    assert lab_page.wait_for_python("ex.selection.class_label", 2) == 2
    bars.nth(5).click(force=True, modifiers=["Control"])
    assert lab_page.wait_for_python("sorted(ex.selection.class_labels)", [2, 5]) == [2, 5]
    highlighted = lab_page.python("sorted(i for i in ex.hypergraph.highlighted if i.startswith('c|'))")
    assert highlighted == ["c|2", "c|5"]
    # on the filter tiles: a click, a ctrl-click, then a shift-click for the range from the focus
    tiles = page.locator(".ddp-filters .ddp-ImageGrid-tile")
    tiles.nth(0).click()
    assert lab_page.wait_for_python("[ex.selection.neuron, ex.selection.neurons]", [0, []]) == [0, []]
    tiles.nth(2).click(modifiers=["ControlOrMeta"])
    assert lab_page.wait_for_python("sorted(ex.selection.neurons)", [0, 2]) == [0, 2]
    assert lab_page.python("ex.selection.neuron") == 2
    page.wait_for_function("() => " + FILTERS_SELECTED + ".join() === '0,2'")
    tiles.nth(5).click(modifiers=["Shift"])
    assert lab_page.wait_for_python("sorted(ex.selection.neurons)", [2, 3, 4, 5]) == [2, 3, 4, 5]
    page.wait_for_function("() => " + FILTERS_SELECTED + ".join() === '2,3,4,5'")
    # the spectrum shows them too, and the detail view has one row per neuron
    page.wait_for_function(
        "() => document.querySelectorAll('.ddp-compare .ddp-ImageGrid-tile canvas').length === 28"
    )
    page.set_viewport_size({"width": 1440, "height": 1500})  # with the hypergraph, for the eye
    page.wait_for_timeout(800)
    page.evaluate(BOXES, MAIN)
    lab_page.screenshot("explorer_multi_selection")
    lab_page.assert_no_console_errors(allow=("Unsatisfied version",))


# runs the active cell; resolves with when (ms after the run command) the startup bar first appeared,
# every text it showed, and whether the explorer was already there at that moment
WATCH_STARTUP = """async () => {
  const t0 = performance.now();
  const seen = { at: null, texts: [], explorerFirst: false };
  const look = () => {
    const el = document.querySelector('.ddp-startup');
    if (!el || !el.querySelector('[class*=progress]')) return;
    if (seen.at === null) {
      seen.at = performance.now() - t0;
      seen.explorerFirst = !!document.querySelector('.ddp-explorer');
    }
    const t = el.textContent.trim();
    if (t && !seen.texts.includes(t)) seen.texts.push(t);
  };
  const obs = new MutationObserver(look);
  obs.observe(document.body, { subtree: true, childList: true, characterData: true });
  window.jupyterapp.commands.execute('notebook:run-cell');
  await new Promise(done => { const id = setInterval(() => {
    if (document.querySelector('.ddp-explorer') || performance.now() - t0 > 120000) {
      clearInterval(id);
      done();
    }
  }, 20); });
  obs.disconnect();
  return seen;
}"""


def test_explore_with_data_shows_progress_at_once(lab, lab_page):
    lab.write_notebook(
        "progress.ipynb",
        [
            (
                "import ddp_widgets as dw, torchvision, torch\n"
                "m = torchvision.models.resnet18(weights=None).eval()\n"
                "x = torch.rand(384, 3, 64, 64); y = torch.arange(384) % 4"
            ),
            "ex = dw.explore(m, x, y, batch_size=32)\nex",
        ],
    )
    page = lab_page.page
    page.set_viewport_size({"width": 1440, "height": 900})
    lab_page.open_notebook("progress.ipynb")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell-and-select-next')")
    lab_page.wait_for_kernel_idle(120_000)
    seen = page.evaluate(WATCH_STARTUP)
    lab_page.wait_for_kernel_idle(120_000)
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.wait_for_timeout(1500)
    page.evaluate(BOXES, MAIN)
    lab_page.screenshot("explorer_resnet18_1440x900")  # 21 layers, metrics computed on request
    assert seen["at"] is not None, "no progress bar while explore() worked"
    assert not seen["explorerFirst"]
    assert any("profiling the SVD neurons over 384 images" in t for t in seen["texts"]), seen["texts"]
    # the target is 1 s from the cell's start; a loaded 2-core CI machine adds message round trips
    assert seen["at"] < 2000, f"the progress bar took {seen['at']:.0f} ms to appear"
    print(f"startup progress bar after {seen['at']:.0f} ms; steps shown: {seen['texts']}")
    # (a metrics line ending in NaN once gave bqplot "translate(x,undefined)" errors here: none allowed)
    lab_page.assert_no_console_errors(allow=("Unsatisfied version",))
