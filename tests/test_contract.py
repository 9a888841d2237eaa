"""The project's contract: README's two commands exist and do what it says."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_demo_opens_the_quickstart_and_runs_as_root():
    out = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lab = [line for line in out.splitlines() if "jupyter lab" in line]
    assert lab and "notebooks/01_quickstart.ipynb" in lab[-1]
    assert ("--allow-root" in lab[-1]) == (os.geteuid() == 0)
    assert (ROOT / "notebooks" / "01_quickstart.ipynb").exists()


def test_ci_runs_make_test():
    run = (ROOT / ".ci" / "run").read_text()
    assert "make test" in run and os.access(ROOT / ".ci" / "run", os.X_OK)
