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

# share of a panel's height below its last visible content
EMPTY = """() => [...document.querySelectorAll('.ddp-explorer .ddp-panel')].map(p => {
  const r = p.getBoundingClientRect();
  let bottom = r.top;
  for (const c of p.querySelectorAll('*')) {
    const b = c.getBoundingClientRect();
    if (b.height > 0 && b.width > 0 && getComputedStyle(c).display !== 'none' && c.children.length === 0)
      bottom = Math.max(bottom, b.bottom);
  }
  return [p.classList[0], (r.bottom - bottom) / r.height];
})"""


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
    empty = dict(page.evaluate(EMPTY))
    assert all(share <= 0.15 for share in empty.values()), empty

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


def test_several_neurons_and_classes_reach_python(lab, lab_page):
    page = lab_page.page
    _open_explorer(lab, lab_page, "multi.ipynb", 1440, 900)
    dots = page.locator(".ddp-rank-fig .object_grp")
    dots.nth(1).click(force=True)
    assert lab_page.wait_for_python("ex.selection.neuron", 1) == 1
    dots.nth(4).click(force=True, modifiers=["Control"])
    assert lab_page.wait_for_python("sorted(ex.selection.neurons)", [1, 4]) == [1, 4]
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
