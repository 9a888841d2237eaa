"""The quickstart notebook runs headless (nbclient) and its saved widget state holds the linked views."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import nbformat
import notebook_runner
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01_quickstart.ipynb"


def test_quickstart_is_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "widgets" not in nb.metadata
    assert max(len(c.source.splitlines()) for c in code) <= 4  # small cells


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    return notebook_runner.execute(NOTEBOOK.name, tmp_path_factory.mktemp("quickstart"))


def test_quickstart_executes_without_errors(executed: nbformat.NotebookNode) -> None:
    errors = notebook_runner.errors(executed)
    assert not errors, errors
    last = executed.cells[-1].outputs[0]["data"]["text/plain"]
    assert "layer='classifier.0'" in last and "singular_index=2" in last


def test_saved_widget_state_holds_the_views(executed: nbformat.NotebookNode) -> None:
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = Counter(m["model_name"] for m in state.values())
    # the explorer's grid, bqplot figures and marks, the cytoscape graph, image grids, the layer list
    for name in ("GridBoxModel", "FigureModel", "ScatterModel", "BarsModel", "CytoscapeModel", "AnyModel", "SelectModel"):
        assert models[name] >= 1, f"no {name} in the saved widget state: {sorted(models)}"
    grids = [m["state"] for m in state.values() if m["state"].get("_anywidget_id") == "ddp_widgets.widgets.image_grid.ImageGrid"]
    assert grids and all("ddp-ImageGrid-tile" in g["_esm"] for g in grids)  # the image grid's own module
    assert models["FigureModel"] >= 2 + 3 + 1  # the stand-alone SpectrumPlot, then the explorer's 3 + 1 figures
    text = json.dumps(state)
    for layer in ("features.0", "features.7", "classifier.0"):
        assert layer in text
    selects = [m["state"] for m in state.values() if m["model_name"] == "SelectModel"]
    firsts = [s["_options_labels"][0] for s in selects if s.get("_options_labels")]
    assert any(f.startswith("0 features.0    α=") and f.endswith("Conv2d 32×1×3×3") for f in firsts), firsts
    nodes = [m["state"] for m in state.values() if m["model_name"] == "NodeModel"]
    assert any(n["data"]["id"].startswith("c|") for n in nodes) and any(n["data"]["id"].startswith("n|") for n in nodes)
