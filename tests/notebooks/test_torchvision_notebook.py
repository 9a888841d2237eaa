"""The pretrained-torchvision notebook runs offline: it says it has no network and still completes."""

from pathlib import Path

import notebook_runner
import pytest

pytestmark = pytest.mark.slow  # executes a notebook

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02_torchvision_pretrained.ipynb"


def test_runs_offline_and_says_so(tmp_path):
    assert notebook_runner.has_no_outputs(notebook_runner.read(NOTEBOOK.name))
    nb = notebook_runner.execute(
        NOTEBOOK.name, tmp_path, env={"DDP_WIDGETS_OFFLINE": "1"}, widget_state=False
    )
    assert not notebook_runner.errors(nb)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "random initial weights (no network)" in text
    assert "PretrainedUnavailableWarning" in text or "not available here" in text
    assert "α̂ = " in text and "-57.37" in text
    assert "operator: 200704 singular values" in text
