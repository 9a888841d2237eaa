"""The explorer in JupyterLab's light and dark themes (issue 14): every text of the explorer has a contrast
of at least 4.5:1 against what it is drawn on, and the graph canvas and plot areas follow the theme.
Screenshots of both themes go to test-artifacts/."""

from __future__ import annotations

from test_layout import _open_explorer

# [text, contrast ratio] of every visible text of the explorer (HTML text and SVG text); colours with
# alpha are blended over the first opaque background below them
CONTRASTS = """() => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const v = m[1].split(',').map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const blend = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    const body = parse(getComputedStyle(document.body).backgroundColor);
    if (body && body[3] > 0) bg = body;
    for (const c of layers.reverse()) bg = blend(c, bg);
    return bg;
  };
  const lum = c => {
    const f = x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const out = [];
  const ex = document.querySelector('.ddp-explorer');
  for (const el of ex.querySelectorAll('*')) {
    if (el.closest('button:disabled, select, .ddp-graph, [style*="display: none"]')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const svg = el instanceof SVGElement;
    if (svg && el.tagName !== 'text') continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || Number(style.opacity) === 0) continue;
    const bg = background(svg ? el.closest('svg').parentElement : el);
    let fg = parse(svg ? style.fill : style.color);
    if (!fg) continue;
    fg = blend(fg, bg);
    out.push([el.textContent.trim().slice(0, 40), Math.round(ratio(fg, bg) * 100) / 100]);
  }
  return out;
}"""

LUMINANCE = """(sel) => { const el = document.querySelector(sel); const c = getComputedStyle(el);
  const v = (el instanceof SVGElement ? c.fill : c.backgroundColor).match(/[\\d.]+/g).map(Number);
  return (0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]) / 255; }"""


def _set_theme(page, theme: str) -> None:
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})")
    light = "true" if "Light" in theme else "false"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
    page.wait_for_timeout(1500)


def test_text_is_readable_and_canvases_follow_the_theme(lab, lab_page):
    page = lab_page.page
    _open_explorer(lab, lab_page, "theme.ipynb", 1440, 900)
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    for theme, name in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
        _set_theme(page, theme)
        page.evaluate("() => document.querySelector('.ddp-explorer').scrollIntoView()")
        lab_page.screenshot(f"explorer_1440x900_{name}")
        page.locator(".ddp-hypergraphexplorer").first.scroll_into_view_if_needed()
        lab_page.screenshot(f"explorer_hypergraph_{name}", page.locator(".ddp-hypergraphexplorer").first)
        texts = page.evaluate(CONTRASTS)
        assert len(texts) > 40, texts  # the check saw the explorer's texts
        low = [t for t in texts if t[1] < 4.5]
        assert not low, f"{name} theme: texts below 4.5:1: {low}"
        graph = page.evaluate(LUMINANCE, ".ddp-explorer .ddp-graph")
        plot = page.evaluate(LUMINANCE, ".ddp-explorer .bqplot .plotarea_background")
        if name == "dark":
            assert graph < 0.3 and plot < 0.3, (graph, plot)
        else:
            assert graph > 0.7 and plot > 0.7, (graph, plot)
    _set_theme(page, "JupyterLab Light")
    lab_page.assert_no_console_errors(allow=("Unsatisfied version",))
