"""Shared by the notebook tests: read a committed notebook, execute it headless, collect its errors."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
QUIET_ENV = {"OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def has_no_outputs(nb: nbformat.NotebookNode) -> bool:
    code = [c for c in nb.cells if c.cell_type == "code"]
    return (
        bool(code)
        and all(not c.outputs and c.execution_count is None for c in code)
        and "widgets" not in nb.metadata
    )


def execute(
    name: str, cwd: Path, *, env: dict[str, str] | None = None, widget_state: bool = True, timeout: int = 300
) -> nbformat.NotebookNode:
    """Run every cell of notebooks/<name> in a fresh kernel with `cwd` as its working folder."""
    from nbclient import NotebookClient

    nb = read(name)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        store_widget_state=widget_state,
        resources={"metadata": {"path": str(cwd)}},
    )
    # the kernel gets this environment only: keep PYTHONPATH, so a worktree tests its own code
    passed = {k: os.environ[k] for k in ("PYTHONPATH", "PATH", "HOME") if k in os.environ}
    client.execute(env={**passed, **QUIET_ENV, **(env or {})})
    return nb


def errors(nb: nbformat.NotebookNode) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
