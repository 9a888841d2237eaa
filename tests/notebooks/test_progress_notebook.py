"""Progress bars in a saved notebook: tqdm's widget output is left behind, transient_progress leaves one
line."""

from __future__ import annotations

import re

import nbformat
import pytest

pytestmark = pytest.mark.slow  # executes a notebook

pytest.importorskip("nbclient")

PROGRESS_TEXT = re.compile(r"^\s*\d+%\|")  # how tqdm's repr starts: "  0%|          | 0/3 ..."
BAR = "from tqdm.auto import tqdm\nimport time\nfor _ in tqdm(range(3), leave=False):\n    time.sleep(0.05)"


def is_progress_output(output: dict) -> bool:
    data = output.get("data", {})
    return "application/vnd.jupyter.widget-view+json" in data and bool(
        PROGRESS_TEXT.match(data.get("text/plain", ""))
    )


def _run(cells: list[str]) -> nbformat.NotebookNode:
    import os

    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    env = {k: os.environ[k] for k in ("PYTHONPATH", "PATH", "HOME") if k in os.environ}
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True).execute(env=env)
    return nb


def test_transient_progress_leaves_no_widget_output_behind() -> None:
    nb = _run(
        [
            BAR,
            "from ddp_widgets._progress import transient_progress\n"
            "with transient_progress(True, 'counted'):\n"
            + "\n".join("    " + line for line in BAR.splitlines()),
        ]
    )
    plain, transient = nb.cells[0].outputs, nb.cells[1].outputs
    # without it: tqdm's bar stays as a widget output whose text is the bar at its start (a stuck line once
    # saved)
    assert any(is_progress_output(o) for o in plain)
    # with it: one plain line, no widget output
    assert [o["data"] for o in transient] == [{"text/plain": transient[0]["data"]["text/plain"]}]
    assert transient[0]["data"]["text/plain"].startswith("counted in ")
    assert not any(is_progress_output(o) for o in transient)
