"""The pretrained-torchvision notebook runs offline: it says it has no network and still completes."""

from pathlib import Path

import nbformat

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02_torchvision_pretrained.ipynb"


def test_runs_offline_and_says_so(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.outputs for c in nb.cells if c.cell_type == "code")
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env={"DDP_WIDGETS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"})
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "random initial weights (no network)" in text
    assert "PretrainedUnavailableWarning" in text or "not available here" in text
    assert "α̂ = " in text and "-57.37" in text
    assert "operator: 200704 singular values" in text
