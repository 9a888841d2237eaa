"""The wheel carries the prebuilt JupyterLab extension and works without node; the sdist stays lean.

The wheel is built the way a user builds it (`pip wheel --no-deps .`, isolated build environment) and
installed with --no-deps into a fresh venv without system site-packages. To save minutes the big runtime
dependencies (torch, jupyterlab ...) are reused from the project's venv through a .pth file that appends
its site-packages to sys.path (its .pth files, including the editable ddp-widgets, are not processed), and
the widget manager's prebuilt extension (data files of jupyterlab_widgets, a dependency) is linked in the
same spirit. Every command then runs with node off the PATH and private Jupyter config/data dirs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
ROOT_FLAG = ["--allow-root"] if os.geteuid() == 0 else []  # CI containers run as root
SDIST_LIMIT = 5 * 1024 * 1024
LABEXT = "share/jupyter/labextensions/ddp-widgets"
MAIN_SITE = Path(sysconfig.get_paths()["purelib"])
MAIN_PREFIX = Path(sys.prefix)


def run(args: list[str | os.PathLike[str]], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def make_venv(path: Path) -> Path:
    """A venv without pip or system site-packages that sees the project venv's packages after its own."""
    venv.create(path, with_pip=False, system_site_packages=False, symlinks=True)
    python = path / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout
    site = Path(purelib.strip())
    (site / "_reuse_project_venv.pth").write_text(f"{MAIN_SITE}\n")
    return python


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path | float]:
    out = tmp_path_factory.mktemp("dist")
    start = time.perf_counter()
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, ROOT], cwd=ROOT)
    seconds = time.perf_counter() - start
    (wheel,) = out.glob("ddp_widgets-*.whl")
    return {"wheel": wheel, "seconds": seconds}


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("fresh")
    python = make_venv(root / "venv")
    pip = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed"]
    run([*pip, built["wheel"]])
    manager = "@jupyter-widgets/jupyterlab-manager"
    target = root / "venv" / "share/jupyter/labextensions" / manager
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(MAIN_PREFIX / "share/jupyter/labextensions" / manager)
    env = {
        "PATH": str(root / "venv" / "bin"),  # no node, no npm, no jlpm
        "HOME": str(root / "home"),
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_DATA_DIR": str(root / "data"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
        "LANG": "C.UTF-8",
    }
    assert shutil.which("node", path=env["PATH"]) is None
    return {"python": python, "env": env, "prefix": root / "venv"}


def test_wheel_carries_the_prebuilt_extension(built):
    wheel = built["wheel"]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        data = next(n for n in names if n.endswith(f".data/data/{LABEXT}/package.json"))
        package = json.loads(archive.read(data))
        install = json.loads(archive.read(data.replace("package.json", "install.json")))
    version = wheel.name.split("-")[1]
    source = json.loads((ROOT / "labextension" / "package.json").read_text())
    assert package["name"] == "ddp-widgets" and package["version"] == source["version"] == version
    assert package["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")
    assert install["packageName"] == "ddp-widgets"
    assert any(n.endswith(".js") and "/static/remoteEntry." in n for n in names)
    assert not any("node_modules" in n or "/.yarn/" in n for n in names)
    assert not any(n.startswith("ddp_widgets/labextension/") for n in names), "build output shipped twice"
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size / 1e6:.2f} MB, built in {built['seconds']:.0f} s")


def test_wheel_carries_the_anywidget_module_inside_the_package(built):
    with zipfile.ZipFile(built["wheel"]) as archive:
        module = archive.read("ddp_widgets/static/image_grid.js").decode()
        styles = archive.read("ddp_widgets/static/image_grid.css").decode()
    assert "export" in module and "ddp-ImageGrid-tile" in module and "@jupyter-widgets" not in module
    assert ".ddp-ImageGrid-tile" in styles


def test_installed_wheel_lists_the_extension_enabled_and_ok_without_node(installed):
    command = [installed["python"], "-m", "jupyterlab.labextensions", "list"]
    result = run(command, env=installed["env"], cwd=installed["prefix"])
    output = result.stdout + result.stderr
    line = next((ln for ln in output.splitlines() if "ddp-widgets" in ln), "")
    assert "enabled" in line and "OK" in line, output
    assert "(python, ddp-widgets)" in line, output
    assert str(installed["prefix"]) in output  # found in the fresh venv, not elsewhere
    command = [installed["python"], "-c", "import ddp_widgets; print(ddp_widgets.__version__)"]
    version = run(command, env=installed["env"], cwd=installed["prefix"])
    assert f"v{version.stdout.strip()}" in line


def test_installed_wheel_sends_its_own_image_grid_module_without_node(installed):
    code = (
        "import ddp_widgets.widgets.image_grid as m; g = m.ImageGrid()\n"
        "print(m.ESM); print(str(g._esm) == m.ESM.read_text() and 'ddp-ImageGrid-tile' in g._esm)"
    )
    result = run([installed["python"], "-c", code], env=installed["env"], cwd=installed["prefix"])
    path, same = result.stdout.split()
    assert Path(path).is_relative_to(installed["prefix"]), path  # the wheel's copy, not the source tree's
    assert same == "True"
    prefix = Path(installed["prefix"])
    files = [p for p in prefix.rglob("*") if p.is_file() and "ddp" in str(p.relative_to(prefix))]
    size = sum(p.stat().st_size for p in files) / 1e6
    print(f"\ninstalled ddp-widgets (no dependencies): {size:.2f} MB, {len(files)} files")


def test_installed_wheel_passes_the_jupyterlab_browser_check_without_node(installed):
    result = run(
        [installed["python"], "-m", "jupyterlab.browser_check", "--no-browser-test", *ROOT_FLAG],
        env=installed["env"],
        cwd=installed["prefix"],
    )
    assert "Exiting normally" in result.stdout + result.stderr


def test_sdist_has_sources_and_no_node_modules_yarn_cache_or_build(tmp_path):
    # hatchling comes from the project venv; its version plugin is the one extra the sdist build needs.
    python = make_venv(tmp_path / "venv")
    run([python, "-m", "pip", "install", "-q", "hatch-nodejs-version>=0.3.2"])
    out = tmp_path / "dist"
    build = f"from hatchling.build import build_sdist; print(build_sdist({str(out)!r}))"
    run([python, "-c", build], cwd=ROOT)
    (sdist,) = out.glob("ddp_widgets-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    for required in ("labextension/package.json", "labextension/yarn.lock", "labextension/src/index.ts"):
        assert required in names
    unwanted = (
        "node_modules/", ".yarn/", "labextension/lib/", "ddp_widgets/labextension/", "ddp_widgets/static/",
        "test-artifacts/",
    )
    shipped = [name for name in names if any(part in name for part in unwanted)]
    assert not shipped, shipped[:10]
    size = sdist.stat().st_size
    print(f"\nsdist {sdist.name}: {size / 1e6:.2f} MB, {len(names)} files")
    assert size < SDIST_LIMIT, f"sdist is {size / 1e6:.1f} MB"
