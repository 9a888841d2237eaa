"""Real-browser fixtures: a JupyterLab server, Debian's chromium driven by Playwright, and helpers.

Use in a test:

    def test_something(lab, lab_page):
        lab.write_notebook("demo.ipynb", ["import ddp_widgets", "w = ...; w"])
        lab_page.open_notebook("demo.ipynb")
        lab_page.run_all_cells()
        lab_page.page.locator(".some-widget").wait_for()
        assert lab_page.python("w.value") == 3          # read Python state from the notebook's kernel
        lab_page.screenshot("something")                 # test-artifacts/something.png
        lab_page.assert_no_console_errors()

Every test gets a fresh page; the server (and its root dir) is shared by the session, so give notebooks
distinct names. Chromium missing: the tests skip and say how to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Console errors that mean a widget could not be built: never acceptable.
WIDGET_ERRORS = ("not found in module", "Could not create", "Could not instantiate widget", "Error rendering")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabServer:
    """A running JupyterLab: `url` (no trailing slash), `root_dir` (the server's files)."""

    url: str
    root_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    app: str = "jupyterlab"  # or "notebook" (Notebook 7)

    def write_notebook(self, name: str, cells: Sequence[str], markdown: Sequence[str] = ()) -> Path:
        """Write a notebook of code `cells` (after optional markdown cells) into the root dir."""
        import nbformat

        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_markdown_cell(text) for text in markdown]
        notebook.cells += [nbformat.v4.new_code_cell(code) for code in cells]
        kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook.metadata["kernelspec"] = kernelspec
        path = self.root_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, path)
        return path

    def copy_notebook(self, source: Path, name: str | None = None) -> Path:
        target = self.root_dir / (name or source.name)
        shutil.copy(source, target)
        return target

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip(
            "chromium is missing: apt-get update && apt-get install -y chromium (or `make browser-deps`)"
        )
    return path


@contextmanager
def jupyter_server(
    base: Path,
    app: str = "jupyterlab",
    disabled_extensions: Sequence[str] = (),
    extra_args: Sequence[str] = (),
) -> Iterator[LabServer]:
    """Run `python -m <app>` (jupyterlab or notebook) on a free port with private config, settings and
    workspaces under `base`; `disabled_extensions` are labextensions the page does not load, `extra_args`
    more command-line options of the server."""
    root_dir = base / "root"
    root_dir.mkdir(parents=True)
    port = _free_port()
    config = base / "config"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "PYTHONUNBUFFERED": "1",
    }
    app_class = "LabApp" if app == "jupyterlab" else "JupyterNotebookApp"
    args = [
        sys.executable,
        "-m",
        app,
        "--no-browser",
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        f"--{app_class}.workspaces_dir={base / 'workspaces'}",
        f"--{app_class}.expose_app_in_browser=True",
        *extra_args,
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    if app == "jupyterlab":  # (Notebook 7 has no such toast, and settings of an unknown plugin raise there)
        # No "get notified about Jupyter news?" toast over the page, no update check.
        settings = base / "settings" / "@jupyterlab" / "apputils-extension"
        notification = settings / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    if disabled_extensions:  # what `jupyter labextension disable` writes, in this server's own config dir
        page_config = config / "labconfig" / "page_config.json"
        page_config.parent.mkdir(parents=True)
        disabled = {name: True for name in disabled_extensions}
        page_config.write_text(json.dumps({"disabledExtensions": disabled}))
    log = base / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root_dir)
    server = LabServer(f"http://127.0.0.1:{port}", root_dir, process, log, app)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: LabServer, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if server.process.poll() is not None:
            code = server.process.returncode
            raise RuntimeError(f"the Jupyter server exited with {code}:\n{server.log_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/api/status", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Jupyter server did not start in {seconds:.0f} s:\n{server.log_text()}")
        time.sleep(0.25)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[LabServer]:
    """JupyterLab with everything installed enabled, this package's extension included."""
    with jupyter_server(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="session")
def lab_without_extension(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[LabServer]:
    """JupyterLab with this package's JupyterLab extension disabled (anywidget's and the others loaded)."""
    with jupyter_server(tmp_path_factory.mktemp("lab-no-ext"), disabled_extensions=["ddp-widgets"]) as server:
        yield server


@pytest.fixture(scope="session")
def lab_without_kernels(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[LabServer]:
    """JupyterLab that offers no kernel at all: notebooks open with "No Kernel", as in a viewer."""
    no_kernels = ["--KernelSpecManager.allowed_kernelspecs=no-kernel-here"]
    with jupyter_server(tmp_path_factory.mktemp("lab-no-kernels"), extra_args=no_kernels) as server:
        yield server


@pytest.fixture(scope="session")
def notebook7(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[LabServer]:
    """Notebook 7 (`python -m notebook`), everything installed enabled."""
    pytest.importorskip("notebook", minversion="7")
    with jupyter_server(tmp_path_factory.mktemp("notebook7"), app="notebook") as server:
        yield server


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


# The notebook (or other document) that has the focus, and its kernel.
_CURRENT = "const w = window.jupyterapp.shell.currentWidget;"

_KERNEL_IDLE = (
    "() => { if (!window.jupyterapp) return false;" + _CURRENT + " const s = w && w.sessionContext;"
    " return !!(s && s.isReady && s.session && s.session.kernel &&"
    " s.session.kernel.status === 'idle' && s.session.kernel.connectionStatus === 'connected'); }"
)

# Resolves when every cell ran (true) or one raised and the rest were skipped (false).
_RUN_ALL = """async (ms) => {
  const run = window.jupyterapp.commands.execute('notebook:run-all-cells');
  const late = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`cells still running after ${ms} ms`)), ms));
  return await Promise.race([run, late]);
}"""

_EXECUTE = """async (code) => {
  const w = window.jupyterapp.shell.currentWidget;
  const future = w.sessionContext.session.kernel.requestExecute({ code, store_history: false });
  let stdout = '';
  let error = null;
  future.onIOPub = msg => {
    const type = msg.header.msg_type;
    if (type === 'stream' && msg.content.name === 'stdout') stdout += msg.content.text;
    if (type === 'error') error = msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return { stdout, error };
}"""


@dataclass
class LabPage:
    """A chromium page on the JupyterLab server, with its console errors recorded."""

    page: Any
    server: LabServer
    console_errors: list[str] = field(default_factory=list)

    def goto_lab(self) -> None:
        self.page.goto(f"{self.server.url}/lab?reset")
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started !== undefined")
        self.page.locator(".jp-LabShell").wait_for()

    def open_notebook(self, name: str, timeout: float = 60_000, *, wait_for_kernel: bool = True) -> None:
        """Open `name` (relative to the root dir) with a fresh workspace and wait for an idle kernel."""
        if self.server.app == "notebook":
            self.page.goto(f"{self.server.url}/notebooks/{name}")
        else:
            self.page.goto(f"{self.server.url}/lab/tree/{name}?reset")
        if wait_for_kernel:
            self.wait_for_kernel_idle(timeout)

    def wait_for_kernel_idle(self, timeout: float = 60_000) -> None:
        self.page.wait_for_function(_KERNEL_IDLE, timeout=timeout)

    def run_all_cells(self, timeout: float = 120_000) -> bool:
        """Run every cell of the current notebook, wait until done and the kernel idle; False if one
        raised."""
        completed = self.page.evaluate(_RUN_ALL, timeout)
        self.wait_for_kernel_idle(timeout)
        return bool(completed)

    def cell_errors(self) -> list[str]:
        """'ename: evalue' of every error output in the current notebook."""
        return self.page.evaluate(
            "() => {" + _CURRENT + " return w.content.widgets.flatMap(c => c.model.type !== 'code' ? [] :"
            " c.model.toJSON().outputs.filter(o => o.output_type === 'error')"
            ".map(o => o.ename + ': ' + o.evalue)); }"
        )

    def execute(self, code: str) -> str:
        """Run `code` in the current notebook's kernel (not as a cell) and return its stdout."""
        result = self.page.evaluate(_EXECUTE, code)
        if result["error"]:
            raise AssertionError(f"{code!r} raised {result['error']}")
        return result["stdout"]

    def python(self, expression: str) -> Any:
        """The JSON value of a Python expression evaluated in the notebook's kernel."""
        out = self.execute(f"import json as _j; print('\\x1e' + _j.dumps({expression}))")
        return json.loads(out.rsplit("\x1e", 1)[1])

    def wait_for_python(self, expression: str, expected: Any, timeout: float = 15.0) -> Any:
        """Poll `expression` in the kernel until it equals `expected`; return the last value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.python(expression)
            if value == expected or time.monotonic() > deadline:
                return value
            time.sleep(0.1)

    def screenshot(self, name: str, locator: Any = None) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        (locator or self.page).screenshot(path=str(path))
        return path

    def assert_no_console_errors(self, allow: Sequence[str] = ()) -> None:
        """No console error at all, except messages containing one of `allow`."""
        errors = [e for e in self.console_errors if not any(a in e for a in allow)]
        assert not errors, "console errors:\n" + "\n".join(errors)


@pytest.fixture
def open_page(browser_context: Any) -> Iterator[Callable[[LabServer], LabPage]]:
    """`open_page(server)`: a fresh page on that server, its console recorded; widget errors fail the test."""
    pages: list[LabPage] = []

    def open_on(server: LabServer) -> LabPage:
        page = browser_context.new_page()
        recorder = LabPage(page, server)
        page.on("console", lambda msg: msg.type == "error" and recorder.console_errors.append(msg.text))
        page.on("pageerror", lambda error: recorder.console_errors.append(f"uncaught: {error}"))
        pages.append(recorder)
        return recorder

    try:
        yield open_on
    finally:
        widget_errors = [e for p in pages for e in p.console_errors if any(w in e for w in WIDGET_ERRORS)]
        for recorder in pages:
            recorder.page.close()
    assert not widget_errors, "widget errors in the console:\n" + "\n".join(widget_errors)


@pytest.fixture
def lab_page(lab: LabServer, open_page: Callable[[LabServer], LabPage]) -> LabPage:
    return open_page(lab)
