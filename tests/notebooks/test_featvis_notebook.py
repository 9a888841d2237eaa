"""The feature-visualisation notebook runs headless (nbclient); its saved widget state holds the image
grids."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import nbformat
import notebook_runner
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03_feature_visualisation.ipynb"


def test_committed_without_outputs() -> None:
    assert notebook_runner.has_no_outputs(notebook_runner.read(NOTEBOOK.name))


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    return notebook_runner.execute(NOTEBOOK.name, tmp_path_factory.mktemp("featvis"))


@pytest.mark.slow
def test_executes_without_errors(executed: nbformat.NotebookNode) -> None:
    errors = notebook_runner.errors(executed)
    assert not errors, errors
    text = "\n".join(
        o.get("data", {}).get("text/plain", "")
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert "FeatureVisualization(layer='features.2', neuron=0" in text
    assert "best sample" in text


@pytest.mark.slow
def test_saved_widget_state_holds_the_grids(executed: nbformat.NotebookNode) -> None:
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    grids = [
        m["state"]
        for m in state.values()
        if m["state"].get("_anywidget_id") == "ddp_widgets.widgets.image_grid.ImageGrid"
    ]
    assert len(grids) >= 2, Counter(m["model_name"] for m in state.values())
    text = json.dumps(grids, ensure_ascii=False)
    for neuron in ("features.2:0 σ=", "features.7:2 σ="):
        assert neuron in text
    side_by_side = [g for g in grids if g["columns"] == 8]
    assert side_by_side and side_by_side[0]["shape"][:3] == [6 * 8, 28, 28]
