"""The executed quickstart, saved: exported to HTML it carries the image grid's own module in the widget
state, and reopened in JupyterLab without a kernel it shows static snapshots of the views, never the widgets'
`Explorer(children=…` text or a stuck progress bar.

The notebook is executed once per module (nbclient, widget state stored, tqdm on as a user has it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ddp_widgets.widgets.image_grid import ESM

QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "01_quickstart.ipynb"
IMAGE_GRID_ID = "ddp_widgets.widgets.image_grid.ImageGrid"
WIDGET_STATE = re.compile(
    r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', re.DOTALL
)
STUCK_PROGRESS = re.compile(r"\d+%\|")  # a tqdm line such as "profiling:  31%|###1  | 5/16"


@pytest.fixture(scope="module")
def executed_quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nbclient import NotebookClient

    folder = tmp_path_factory.mktemp("executed")
    notebook = nbformat.read(QUICKSTART, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(folder)}})
    client.execute(env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    path = folder / "quickstart_executed.ipynb"
    nbformat.write(notebook, path)
    return path


def _cell_index(path: Path, source_start: str) -> int:
    cells = nbformat.read(path, as_version=4).cells
    return next(i for i, cell in enumerate(cells) if cell.source.startswith(source_start))


def test_html_export_carries_the_image_grid_module_and_pixels(executed_quickstart: Path, tmp_path: Path):
    target = tmp_path / "quickstart.html"
    command = [sys.executable, "-m", "nbconvert", "--to", "html", executed_quickstart, "--output", target]
    subprocess.run([str(c) for c in command], check=True, capture_output=True, timeout=120)
    page = target.read_text()
    (state_json,) = WIDGET_STATE.findall(page)
    models = json.loads(state_json)["state"]
    grids = [m for m in models.values() if m["state"].get("_anywidget_id") == IMAGE_GRID_ID]
    assert len(grids) >= 2, "the explorer's filters and top images"
    module = ESM.read_text()
    for grid in grids:
        assert (grid["model_module"], grid["model_name"]) == ("anywidget", "AnyModel")
        assert grid["state"]["_esm"] == module  # the whole front end of the view, no extension needed
        (buffer,) = [b for b in grid["buffers"] if b["path"] == ["data"]]
        assert buffer["encoding"] == "base64" and len(buffer["data"]) > 0  # its pixels too
        shape = grid["state"]["shape"]
        assert shape[0] > 0 and shape[3] in (1, 3)


@pytest.mark.xfail(
    strict=True,
    reason="static snapshots (issue 11 item 2) are being built on the widgets branch; remove this mark "
    "when they land (the test then passes, and strict xfail fails until the mark is removed)",
)
def test_reopened_notebook_without_kernel_shows_static_snapshots(executed_quickstart: Path, lab, lab_page):
    name = "quickstart_reopened.ipynb"
    shutil.copy(executed_quickstart, lab.root_dir / name)
    lab_page.open_notebook(name)
    page = lab_page.page
    page.evaluate("async () => { await window.jupyterapp.shell.currentWidget.sessionContext.shutdown(); }")
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.kernelDisplayName === 'No Kernel'"
    )
    cells = page.locator(".jp-Notebook .jp-Cell")
    for start in ("from ddp_widgets.widgets import SpectrumPlot", "explorer = dw.explore()"):
        output = cells.nth(_cell_index(executed_quickstart, start)).locator(".jp-OutputArea-output")
        output.first.wait_for()
        text = output.all_inner_texts()
        assert not any("(children=" in t for t in text), f"{start!r} shows the widget's repr: {text}"
        pictures = output.locator("svg, img[src^='data:image/']").count()
        assert pictures >= 1, f"{start!r}: no snapshot picture in its output"
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    stuck = [t for t in outputs if STUCK_PROGRESS.search(t)]
    assert not stuck, f"progress bars left in the saved notebook: {stuck}"
    lab_page.screenshot("quickstart_reopened_without_kernel")
    lab_page.assert_no_console_errors(allow=("Unsatisfied version",))
