"""The JupyterLab UI of ddp-widgets: launcher card, palette command, starter notebook that runs, About."""

from __future__ import annotations

import json

import ddp_widgets

CARD = ".jp-LauncherCard[data-category='ddp-widgets']"


def test_launcher_card_creates_a_starter_notebook_that_runs(lab, lab_page):
    page = lab_page.page
    lab_page.goto_lab()
    card = page.locator(CARD)
    card.wait_for()
    assert "New SVD exploration" in card.inner_text()
    section = page.locator(".jp-Launcher-section", has=page.locator(CARD))
    assert section.locator(".jp-Launcher-sectionTitle").inner_text() == "ddp-widgets"
    lab_page.screenshot("launcher")

    card.click()
    lab_page.wait_for_kernel_idle()
    path = lab.root_dir / "svd-exploration.ipynb"
    assert path.exists()
    cells = json.loads(path.read_text())["cells"]
    sources = ["".join(cell["source"]) for cell in cells]
    assert cells[0]["cell_type"] == "markdown" and sources[0].startswith("# SVD exploration")
    code = "\n".join(sources[1:])
    for line in (
        "import ddp_widgets",
        "from ddp_widgets.zoo import load_default_model, load_default_data",
        "model = load_default_model()",
        "analysis = ddp_widgets.SpectralAnalysis(model)",
        "analysis.metrics()",
        "# model = torchvision.models.resnet18(weights=None)",
    ):
        assert line in code

    assert lab_page.run_all_cells(timeout=180_000), lab_page.cell_errors()
    assert lab_page.cell_errors() == []
    assert lab_page.python("type(analysis.metrics()).__name__") == "DataFrame"
    assert lab_page.python("len(analysis.metrics())") == lab_page.python("len(analysis.layers)") > 0
    # The metrics table is the last cell's output.
    page.locator(".jp-Cell").last.locator(".jp-RenderedHTMLCommon table").wait_for()
    lab_page.screenshot("starter_notebook_ran")

    # A second exploration gets the next free name.
    page.evaluate("() => window.jupyterapp.commands.execute('ddp-widgets:new-svd-exploration')")
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.title.label === 'svd-exploration-1.ipynb'"
    )
    assert (lab.root_dir / "svd-exploration-1.ipynb").exists()
    lab_page.assert_no_console_errors()


def test_palette_lists_the_commands_and_about_shows_the_version(lab, lab_page):
    page = lab_page.page
    lab_page.goto_lab()
    page.locator(CARD).wait_for()
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:activate-command-palette')")
    palette = page.locator(".jp-ModalCommandPalette .lm-CommandPalette-content")
    palette.locator(".lm-CommandPalette-header").first.wait_for(state="attached")
    # Unfiltered (hidden until one types), the palette groups commands under category headers.
    in_category = page.evaluate(
        """() => {
            const items = [];
            const headers = '.jp-ModalCommandPalette .lm-CommandPalette-header';
            let node = Array.from(document.querySelectorAll(headers))
                .find(h => h.textContent.trim() === 'ddp-widgets');
            for (node = node && node.nextElementSibling; node && !node.matches('.lm-CommandPalette-header');
                 node = node.nextElementSibling) {
                items.push(node.querySelector('.lm-CommandPalette-itemLabel').textContent);
            }
            return items;
        }"""
    )
    assert sorted(in_category) == ["About ddp-widgets", "New SVD exploration"]
    page.locator(".lm-CommandPalette-input").fill("SVD exploration")
    palette.locator(".lm-CommandPalette-item", has_text="New SVD exploration").wait_for()
    lab_page.screenshot("palette")
    page.locator(".lm-CommandPalette-input").fill("about ddp")
    palette.locator(".lm-CommandPalette-item", has_text="About ddp-widgets").click()
    dialog = page.locator(".jp-Dialog-content")
    dialog.wait_for()
    assert "About ddp-widgets" in dialog.inner_text()
    assert f"ddp-widgets {ddp_widgets.__version__}" in dialog.locator(".ddp-About-version").inner_text()
    lab_page.screenshot("about", dialog)
    dialog.locator("button", has_text="Ok").click()
    dialog.wait_for(state="detached")
    lab_page.assert_no_console_errors()
