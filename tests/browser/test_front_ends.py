"""The quickstart in the front ends a user may have: JupyterLab 4 without this package's JupyterLab
extension (the image grid is an anywidget: its module travels with the widget), and Notebook 7. Each renders
every view, decodes the image tiles, and a tile click reaches Python and back."""

from __future__ import annotations

import shutil
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "01_quickstart.ipynb"
FILTERS = ".ddp-explorer .ddp-filters .ddp-ImageGrid-tile"
TOP_IMAGES = ".ddp-explorer .ddp-top-images .ddp-ImageGrid-tile"
# ipycytoscape 1.3.3 warns about its @jupyter-widgets/base range on every page load: harmless
KNOWN_WARNINGS = ("Unsatisfied version",)
# Notebook 7.6.5 itself, on every page (its shortcuts plugin reads the schema of a plugin it did not load),
# with every labextension disabled too: not ours
NOTEBOOK7_OWN_ERRORS = ("Cannot read properties of undefined (reading 'schema')",)

CENTRE_ALPHA = """(selector) => Array.from(document.querySelectorAll(selector + ' canvas')).map(c =>
    c.getContext('2d').getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data[3])"""


def run_quickstart(server, recorder, name: str) -> None:  # noqa: ANN001
    shutil.copy(QUICKSTART, server.root_dir / name)
    recorder.open_notebook(name, timeout=120_000)
    assert recorder.run_all_cells(timeout=300_000), recorder.cell_errors()
    assert recorder.cell_errors() == []


def assert_explorer_rendered_and_grid_linked(recorder) -> None:  # noqa: ANN001
    page = recorder.page
    page.locator(".ddp-explorer").first.wait_for(timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('.ddp-explorer .bqplot svg').length >= 4")
    page.wait_for_function("() => document.querySelectorAll('.ddp-explorer .ddp-graph canvas').length >= 1")
    for grid in (FILTERS, TOP_IMAGES):
        page.wait_for_function(
            f"() => document.querySelectorAll('{grid} canvas').length >= 4", timeout=60_000
        )
        assert set(page.evaluate(CENTRE_ALPHA, grid)) == {255}, f"{grid}: tiles not decoded"
    # the stand-alone SpectrumPlot above the explorer rendered too
    assert page.locator(".bqplot svg").count() > page.locator(".ddp-explorer .bqplot svg").count()

    # a click on a filter tile reaches Python, and Python's answer is highlighted
    tiles = page.locator(FILTERS)
    tiles.nth(2).scroll_into_view_if_needed()
    tiles.nth(2).click()
    assert recorder.wait_for_python("explorer.vectors.filters.selected_index", 2, timeout=30) == 2
    recorder.execute("explorer.vectors.filters.selected_index = 3")
    page.wait_for_function(
        f"() => {{ const s = document.querySelectorAll('{FILTERS}.ddp-mod-selected');"
        " return s.length === 1 && s[0].dataset.index === '3'; }"
    )


def test_quickstart_renders_in_jupyterlab_without_this_packages_extension(lab_without_extension, open_page):
    recorder = open_page(lab_without_extension)
    run_quickstart(lab_without_extension, recorder, "quickstart_no_extension.ipynb")
    page = recorder.page
    # really without it: none of its commands, no launcher card; anywidget's extension is what draws the grid
    for command in ("ddp-widgets:about", "ddp-widgets:new-svd-exploration"):
        assert page.evaluate("(c) => window.jupyterapp.commands.hasCommand(c)", command) is False
    assert_explorer_rendered_and_grid_linked(recorder)
    recorder.screenshot("quickstart_jupyterlab_without_extension", page.locator(".ddp-explorer").first)
    recorder.assert_no_console_errors(allow=KNOWN_WARNINGS)


def test_quickstart_renders_in_notebook_7(notebook7, open_page):
    recorder = open_page(notebook7)
    run_quickstart(notebook7, recorder, "quickstart_notebook7.ipynb")
    assert recorder.page.evaluate("() => window.jupyterapp.name") == "Jupyter Notebook"
    assert_explorer_rendered_and_grid_linked(recorder)
    recorder.screenshot("quickstart_notebook7", recorder.page.locator(".ddp-explorer").first)
    recorder.assert_no_console_errors(allow=KNOWN_WARNINGS + NOTEBOOK7_OWN_ERRORS)
