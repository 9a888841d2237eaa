"""README: the Binder badge follows the one repository setting; the install paths are given."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_binder_badge_is_derived_from_the_repository_setting() -> None:
    url = json.loads((ROOT / "labextension" / "package.json").read_text())["repository"]["url"]
    owner_repo = re.match(r"https://github\.com/([^/]+/[^/.]+)(\.git)?$", url).group(1)
    readme = (ROOT / "README.md").read_text()
    badges = re.findall(r"\]\((https://mybinder\.org/v2/gh/[^)]+)\)", readme)
    assert badges == [
        f"https://mybinder.org/v2/gh/{owner_repo}/HEAD?urlpath=lab/tree/notebooks/01_quickstart.ipynb"
    ]
    assert "From a fork on GitHub" in readme


def test_readme_gives_the_pip_and_cpu_torch_paths_with_measured_sizes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in readme
    assert (
        re.search(r"pip install ddp_widgets-[0-9.]+-py3-none-any\.whl", readme)
        and "jupyter labextension list" in readme
    )
    assert re.search(r"\| \d+ s \| \d+\.\d GB \|", readme)
