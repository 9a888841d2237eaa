"""The feature-visualisation notebook runs headless (nbclient); its saved widget state holds the image grids."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03_feature_visualisation.ipynb"


def test_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "widgets" not in nb.metadata


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    cwd = tmp_path_factory.mktemp("featvis")
    client = NotebookClient(nb, timeout=180, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(env={"OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"})
    return nb


def test_executes_without_errors(executed: nbformat.NotebookNode) -> None:
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    text = "\n".join(o.get("data", {}).get("text/plain", "") for c in executed.cells if c.cell_type == "code"
                     for o in c.outputs)
    assert "FeatureVisualization(layer='features.2', alpha=0" in text
    assert "best sample" in text


def test_saved_widget_state_holds_the_grids(executed: nbformat.NotebookNode) -> None:
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    grids = [m["state"] for m in state.values() if m["model_name"] == "ImageGridModel"]
    assert len(grids) >= 2, Counter(m["model_name"] for m in state.values())
    text = json.dumps(grids, ensure_ascii=False)
    for neuron in ("features.2:0 σ=", "features.7:2 σ="):
        assert neuron in text
    side_by_side = [g for g in grids if g["columns"] == 8]
    assert side_by_side and side_by_side[0]["shape"][:3] == [6 * 8, 28, 28]
