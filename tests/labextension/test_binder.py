"""Binder configuration: CPU torch pins that satisfy the package's ranges, a strict postBuild, the badge."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip(
    "tomllib", reason="reads pyproject.toml with the standard library's tomllib (3.11+)"
)

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
BADGE = "https://mybinder.org/v2/gh/pnnl-ddp/ddp-widgets/HEAD?urlpath=lab/tree/notebooks/01_quickstart.ipynb"


def _dependencies() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {req.name: req for req in map(Requirement, project["dependencies"])}


def test_requirements_pin_cpu_torch_from_the_pytorch_index_within_the_package_ranges():
    lines = [ln.strip() for ln in (BINDER / "requirements.txt").read_text().splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    pins = {req.name: req for req in map(Requirement, (ln for ln in lines if not ln.startswith("--")))}
    assert set(pins) == {"torch", "torchvision"}
    ranges = _dependencies()
    for name, pin in pins.items():
        (spec,) = pin.specifier
        assert spec.operator == "==" and spec.version.endswith("+cpu"), pin
        assert ranges[name].specifier.contains(spec.version), f"{pin} is outside the package's {ranges[name]}"


def test_runtime_and_post_build():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    post_build = BINDER / "postBuild"
    text = post_build.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert re.search(r"^set -euxo pipefail$", text, re.MULTILINE)
    assert re.search(r"^pip install (--no-cache-dir )?\.$", text, re.MULTILINE)
    assert os.access(post_build, os.X_OK)
    subprocess.run(["bash", "-n", str(post_build)], check=True)


def test_readme_has_the_binder_badge():
    assert f"]({BADGE})" in (ROOT / "README.md").read_text()
    assert (ROOT / "notebooks" / "01_quickstart.ipynb").exists()
