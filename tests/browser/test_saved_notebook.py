"""The executed quickstart, saved: exported to HTML it carries the image grid's own module in the widget
state, and reopened in JupyterLab without a kernel it shows static snapshots of the views, never the widgets'
`Explorer(children=…` text or a stuck progress bar.

The notebook is executed once per module (nbclient, widget state stored, tqdm on as a user has it).
"""

from __future__ import annotations

import json
import os
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
SNAPSHOT = ".ddp-static"  # ddp_widgets.widgets._snapshot.STATIC_CLASS (widgets branch)
STUCK_PROGRESS = re.compile(r"\d+%\|")  # a tqdm line such as "profiling:  31%|###1  | 5/16"


@pytest.fixture(scope="module")
def executed_quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nbclient import NotebookClient

    folder = tmp_path_factory.mktemp("executed")
    notebook = nbformat.read(QUICKSTART, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(folder)}})
    # (the kernel gets exactly this environment: keep the caller's, e.g. PYTHONPATH)
    client.execute(env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
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


def test_reopened_notebook_without_kernel_shows_static_snapshots(
    executed_quickstart: Path, lab_without_kernels, open_page
):
    server = lab_without_kernels
    name = "quickstart_reopened.ipynb"
    shutil.copy(executed_quickstart, server.root_dir / name)
    recorder = open_page(server)
    recorder.open_notebook(name, wait_for_kernel=False)
    page = recorder.page
    # the server offers no kernel: JupyterLab asks which one to start; the user answers "No Kernel"
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    dialog.locator("button", has_text="No Kernel").click(timeout=60_000)
    dialog.wait_for(state="detached")
    page.wait_for_function(
        "() => { const s = window.jupyterapp.shell.currentWidget.sessionContext;"
        " return s.kernelDisplayName === 'No Kernel' && !s.session; }"
    )
    cells = page.locator(".jp-Notebook .jp-Cell")
    for start in ("from ddp_widgets.widgets import SpectrumPlot", "explorer = dw.explore()"):
        output = cells.nth(_cell_index(executed_quickstart, start)).locator(".jp-OutputArea-output")
        output.first.wait_for()
        text = output.all_inner_texts()
        assert not any("(children=" in t for t in text), f"{start!r} shows the widget's repr: {text}"
        snapshot = output.locator(SNAPSHOT).first  # the widgets' static-snapshot output, shown
        snapshot.wait_for(state="visible", timeout=30_000)
        assert snapshot.locator("img[src^='data:image/png']").count() >= 1, f"{start!r}: no picture"
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    stuck = [t for t in outputs if STUCK_PROGRESS.search(t)]
    assert not stuck, f"progress bars left in the saved notebook: {stuck}"
    recorder.screenshot("quickstart_reopened_without_kernel", snapshot)  # the explorer's
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session") is None
    recorder.assert_no_console_errors(allow=("Unsatisfied version",))
