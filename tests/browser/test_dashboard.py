"""The neuron dashboard in a real JupyterLab (Playwright + Debian's chromium): it renders (bqplot charts,
image grids of both poles with their maps), the ablate button fills the Δaccuracy chart, a click in the
dashboard moves the Python selection and a selection set from Python redraws the dashboard."""

from __future__ import annotations

from typing import Any

SETUP = """\
import ddp_widgets as dw
from ddp_widgets.widgets.neuron_dashboard import NeuronDashboard
from ddp_widgets.zoo import MEAN, STD, load_default_data, load_default_model
model, data = load_default_model(), load_default_data()
profiler = dw.Profiler(model)
profile = profiler.profile(data.images, data.labels, class_names=data.class_names, progress=False)
sel = dw.Selection.for_analysis(profiler.analysis, profile, layer="features.7", neuron=0)
d = NeuronDashboard(
    profiler, profile, sel, data.images, labels=data.labels, images=data.raw, mean=MEAN, std=STD
)
d
"""

DASH = ".ddp-neurondashboard"
BARS = DASH + " .ddp-dashboard-{} .bargroup rect"


def _bar_heights(page: Any, chart: str) -> list[float]:
    return page.evaluate(
        f"() => Array.from(document.querySelectorAll('{BARS.format(chart)}'))"
        ".map(r => r.getBoundingClientRect().height)"
    )


def test_dashboard_renders_ablates_and_links_both_ways(lab: Any, lab_page: Any) -> None:
    lab.write_notebook("dashboard.ipynb", [SETUP])
    page = lab_page.page
    page.set_viewport_size({"width": 1280, "height": 1500})
    lab_page.open_notebook("dashboard.ipynb")
    assert lab_page.run_all_cells(), lab_page.cell_errors()
    dash = page.locator(DASH).first
    dash.wait_for()
    # class means and the filter/readout charts; the ablation chart enters the page with its numbers
    page.wait_for_function(f"() => document.querySelectorAll('{DASH} .bqplot svg').length >= 2")
    for pole in ("top", "bottom"):
        page.wait_for_function(
            f"() => document.querySelectorAll('{DASH} .ddp-dashboard-{pole} .ddp-ImageGrid-tile canvas')"
            ".length === 6"
        )
    page.wait_for_function(f"() => document.querySelectorAll('{BARS.format('class')}').length === 10")
    assert "SVD neuron 0 of features.7" in dash.inner_text()
    assert lab_page.python("d.last_error is None")
    page.wait_for_timeout(600)  # bqplot transitions
    lab_page.screenshot("dashboard_initial", dash)

    # the ablate button fills the Δaccuracy chart with the numbers of neurons.ablate
    assert max(_bar_heights(page, "ablation") or [0.0]) < 1.0  # empty before
    dash.locator("button", has_text="ablate").click()
    assert lab_page.wait_for_python("d.ablation is not None", True, timeout=60), lab_page.python(
        "str(d.last_error)"
    )
    assert lab_page.python("d.ablate_bars.y.tolist() == d.ablation['delta_accuracy'].tolist()")
    page.wait_for_function(
        f"() => Array.from(document.querySelectorAll('{BARS.format('ablation')}'))"
        ".some(r => r.getBoundingClientRect().height > 2)"
    )
    page.wait_for_function(f"() => document.querySelector('{DASH}').textContent.includes('accuracy')")

    # clicks in the dashboard set the Python selection: a class bar, then an image of the bottom pole
    page.locator(BARS.format("class")).nth(3).click(force=True)
    assert lab_page.wait_for_python("sel.class_label", 3) == 3
    page.locator(f"{DASH} .ddp-dashboard-bottom .ddp-ImageGrid-tile").nth(1).click()
    expected = lab_page.python("int(profile.bottom_images('features.7', 0, 6)[0][1])")
    assert lab_page.wait_for_python("sel.image_index", expected) == expected
    page.wait_for_timeout(600)
    lab_page.screenshot("dashboard_ablated", dash)

    # the selection set from Python redraws the dashboard
    lab_page.execute("sel.neuron = 2")
    page.wait_for_function(
        f"() => document.querySelector('{DASH}').textContent.includes('SVD neuron 2 of features.7')"
    )
    top = lab_page.python("[int(i) for i in profile.top_images('features.7', 2, 6)[0]]")
    assert lab_page.python("[int(t.split()[1]) for t in d.top_grid.tooltips]") == top
    lab_page.execute(f"sel.image_index = {top[0]}")
    page.wait_for_function(
        f"() => {{ const t = document.querySelector('{DASH} .ddp-dashboard-top .ddp-mod-selected');"
        " return t && t.dataset.index === '0'; }"
    )
    page.wait_for_function(
        f"() => Math.max(...Array.from(document.querySelectorAll('{BARS.format('ablation')}'))"
        ".map(r => r.getBoundingClientRect().height)) < 1"
    )  # another neuron: not ablated yet
    assert lab_page.python("d.last_error is None")

    # a Linear layer next to the logits: the readout chart appears; a feature visualisation on demand
    lab_page.execute("sel.select(layer='classifier.3', neuron=0)")
    page.wait_for_function(
        f"() => Array.from(document.querySelectorAll('{BARS.format('readout')}'))"
        ".some(r => r.getBoundingClientRect().height > 2)"
    )
    lab_page.execute("d.steps.value = 16")
    dash.locator("button", has_text="visualise").click()
    page.wait_for_function(
        f"() => document.querySelectorAll('{DASH} .ddp-dashboard-visual .ddp-ImageGrid-tile canvas')"
        ".length === 1",
        timeout=60_000,
    )
    assert lab_page.python("d.last_error is None and d.visualization is not None")
    page.wait_for_timeout(600)
    lab_page.screenshot("dashboard_readout_visualisation", dash)
    lab_page.assert_no_console_errors(allow=("Unsatisfied version",))


def test_dashboard_in_the_default_explorer_is_linked_to_the_other_views(lab: Any, lab_page: Any) -> None:
    lab.write_notebook(
        "explorer_dashboard.ipynb", ["import ddp_widgets as dw\nex = dw.explore(progress=False)\nex"]
    )
    page = lab_page.page
    page.set_viewport_size({"width": 1280, "height": 1400})
    lab_page.open_notebook("explorer_dashboard.ipynb")
    assert lab_page.run_all_cells(), lab_page.cell_errors()
    dash = page.locator(f".ddp-explorer {DASH}").first
    dash.wait_for()
    assert lab_page.python("ex.dashboard is not None and ex.dashboard.last_error is None")
    # collapsed in the explorer (it is not redrawn until shown); its "show" button opens it
    assert lab_page.python("ex.dashboard.expanded") is False
    page.locator(".ddp-dashboard-toggle").click()
    assert lab_page.wait_for_python("ex.dashboard.expanded", True) is True
    # a filter clicked in the singular-vector view moves the dashboard
    page.locator(".ddp-filters .ddp-ImageGrid-tile").nth(3).click()
    assert lab_page.wait_for_python("ex.selection.neuron", 3) == 3
    page.wait_for_function(
        f"() => document.querySelector('{DASH}').textContent.includes('SVD neuron 3 of features.0')"
    )
    # a class clicked in the dashboard moves the singular-vector view's class chart
    dash.scroll_into_view_if_needed()
    page.wait_for_function(
        f"() => document.querySelectorAll('{DASH} .ddp-dashboard-bottom .ddp-ImageGrid-tile canvas')"
        ".length === 6"
    )
    page.wait_for_timeout(600)
    page.locator(BARS.format("class")).nth(5).click(force=True)
    assert lab_page.wait_for_python("ex.selection.class_label", 5) == 5
    assert lab_page.python("[int(i) for i in ex.vectors.bars.selected]") == [5]
    lab_page.screenshot("dashboard_in_explorer", dash)
    assert lab_page.python("[v.last_error is None for v in ex.views]") == [True] * 6
    lab_page.assert_no_console_errors(allow=("Unsatisfied version",))
