"""notebooks/04_neuron_dashboard.ipynb runs headless (nbclient) through maps, ablation, readout and
truncation."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebooks"))
import notebook_runner  # the shared runner of tests/notebooks

NAME = "04_neuron_dashboard.ipynb"
ROOT = Path(__file__).resolve().parents[2]


def test_committed_without_outputs() -> None:
    assert notebook_runner.has_no_outputs(notebook_runner.read(NAME))


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    return notebook_runner.execute(
        NAME, tmp_path_factory.mktemp("dashboard"), widget_state=False, env={"PYTHONPATH": str(ROOT)}
    )  # the kernel imports this tree


def _text(nb: nbformat.NotebookNode) -> str:
    return "\n".join(
        str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


@pytest.mark.slow
def test_executes_without_errors(executed: nbformat.NotebookNode) -> None:
    errors = notebook_runner.errors(executed)
    assert not errors, errors
    text = _text(executed)
    assert "features.7:" in text and "hyperedge:" in text
    assert "NotLinearToLogitsError" in text and "'classifier.1' (ReLU)" in text
    assert "delta_accuracy" in text and "kept_rank" in text and "margin" in text
    images = [
        o
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    # maps of the top pole, ablation bars, truncation curve; and the bottom pole where Profile has
    # bottom_images
    assert len(images) == (3 if "no Profile.bottom_images" in text else 4)
