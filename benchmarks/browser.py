"""Click-to-redraw latency of the explorer in a real browser (issue 14): JupyterLab 4 + Debian's chromium.

For each click type -- a layer in the list, a point in the metrics chart, a filter tile, a hypergraph node,
a top image -- the benchmark clicks repeatedly (first visits of layers included) and times, in the page,
from the click's first input event until the last change inside the explorer's output:

- "last change" = the last DOM mutation (MutationObserver on `.ddp-explorer`: bqplot's SVG, HTML, image
  grid tiles) or 2-D canvas draw call (the cytoscape graph, ImageGrid tiles) inside the explorer, once the
  kernel is idle again after the page's last message and nothing has changed for a quiet period. The quiet
  period is not counted: the end is the time of the last change itself (the paint that follows, at most a
  frame, is not included). Tooltips are ignored.
- "mark" = the moment every `data-ddp-drawn="<generation>"` mark in the explorer carries the generation after
  the one seen before the click (the Explorer publishes one hidden `<span class="ddp-drawn" data-ddp-view=...
  data-ddp-drawn=...>` per view, in one HTML widget updated once every view has sent its updates). It is
  printed beside the latency; `--until mark` judges the targets on it instead. The mark follows the views'
  messages, not their paint: a canvas (cytoscape, image tiles) draws on a later animation frame, which is why
  the default end is the last change.

Beside each click type it prints the kernel-side time of the same change (the summed time of the kernel's
widget message handlers for that click, measured in the kernel) and the comm traffic per click counted on
the kernel websocket in the page (messages from the kernel, comm_open / comm_close / echo_update among
them, messages from the page, kB from the kernel). A fixed-workload speed line (a Python loop here, a JS
loop and a DOM build in the page) before and after each model tells a slow machine from a slow explorer.

Models: `default` (the embedded MiniVGG and its sample profile) and `resnet50` (torchvision, weights=None,
profiled on 64 random 224x224 images with 10 arbitrary classes: the images are noise, the numbers measure
the views, not the model; every layer's metrics computed up front so the metrics chart has all points).

    python benchmarks/browser.py                  # both models, 15 clicks per type
    python benchmarks/browser.py --quick          # smoke run: default model, 3 clicks per type
    python benchmarks/browser.py --models resnet50 --clicks 20 --json out.json

Targets (issue 14, otherwise idle machine): median <= 100 ms and p90 <= 200 ms for every click type.
"""

from __future__ import annotations

import os
import sys

# benchmarks/profile.py shadows the standard library's `profile`: keep this folder off the import path
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).with_name("browser_probe.js")
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
VIEWPORT = {"width": 1440, "height": 2600}  # the whole explorer on screen: no scrolling between clicks
CLICK_TYPES = ("layer list", "metrics point", "filter tile", "hypergraph node", "top image")
LAYER_CHANGING = ("layer list", "metrics point")
HOVER_MS = 400

# Cell 1: time every widget message handler in the kernel (patched before any widget exists, since a
# widget binds its handler when its comm opens).
HARNESS = """\
import time as _t, ipywidgets as _ipw
_DDP_K = []
def _ddp_timed(handle):
    def timed(self, msg):
        t = _t.perf_counter()
        try:
            return handle(self, msg)
        finally:
            _DDP_K.append((_t.perf_counter() - t) * 1e3)
    return timed
_ipw.Widget._handle_msg = _ddp_timed(_ipw.Widget._handle_msg)
def _ddp_state():
    out = {"kernel_ms": sum(_DDP_K), "handled": len(_DDP_K), "layer": ex.selection.layer}
    _DDP_K.clear()
    return out
import torch
torch.set_num_threads(1)
import ddp_widgets as dw
"""

MODELS = {
    "default": """\
ex = dw.explore(progress=False)
ex""",
    "resnet50": """\
import torchvision
torch.manual_seed(0)
_model = torchvision.models.resnet50(weights=None).eval()
_images = torch.rand(64, 3, 224, 224, generator=torch.Generator().manual_seed(0))  # noise, not photos
_labels = torch.arange(64) % 10
ex = dw.explore(_model, _images, _labels, class_names=[f"class {i}" for i in range(10)], progress=False)
ex.metrics.compute_all()
ex""",
}
TITLES = {
    "default": "default model (MiniVGG, its sample profile)",
    "resnet50": "ResNet-50 (weights=None), 64 random images profiled",
}

_EXECUTE = """async (code) => {
  const w = window.jupyterapp.shell.currentWidget;
  const future = w.sessionContext.session.kernel.requestExecute({ code, store_history: false });
  let stdout = '', error = null;
  future.onIOPub = msg => {
    if (msg.header.msg_type === 'stream' && msg.content.name === 'stdout') stdout += msg.content.text;
    if (msg.header.msg_type === 'error') error = msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return { stdout, error };
}"""
_KERNEL_IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const s = w && w.sessionContext; const k = s && s.session && s.session.kernel;
  return !!(s && s.isReady && k && k.status === 'idle' && k.connectionStatus === 'connected'); }"""
_RUN_ALL = "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
_CELL_ERRORS = """() => window.jupyterapp.shell.currentWidget.content.widgets.flatMap(c =>
  c.model.type !== 'code' ? [] : c.model.toJSON().outputs.filter(o => o.output_type === 'error')
    .map(o => o.ename + ': ' + o.evalue))"""
_GRAPH_NODES = """() => {
  const el = document.querySelector('.ddp-explorer .ddp-graph');
  const cy = el && el._cyreg && el._cyreg.cy;
  if (!cy) return [];
  const box = el.getBoundingClientRect();
  return cy.nodes(':visible').map(n => { const p = n.renderedPosition();
    return { id: n.id(), x: box.left + p.x, y: box.top + p.y, sel: n.hasClass('sel') }; })
    .filter(n => n.x > box.left + 4 && n.x < box.right - 4 && n.y > box.top + 4 && n.y < box.bottom - 4);
}"""
# the trained-metric points of the metrics chart (the blue scatter, drawn last), as viewport centres
_METRIC_POINTS = """() => {
  const events = document.querySelector(
    '.ddp-explorer .ddp-layermetrics .bqplot svg.svg-figure rect.plotarea_events');
  const marks = events ? [...events.nextElementSibling.children] : [];
  const scatters = marks.filter(m => m.querySelector(':scope > .object_grp'));
  const trained = scatters[scatters.length - 1];
  return trained ? [...trained.querySelectorAll(':scope > .object_grp > .dot')].map(d => {
    const b = d.getBoundingClientRect(); return { x: b.left + b.width / 2, y: b.top + b.height / 2 }; }) : [];
}"""


# -- JupyterLab and chromium -------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Lab:
    url: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def jupyterlab(base: Path, tree: Path = ROOT) -> Iterator[Lab]:
    """A JupyterLab server whose kernels import ddp_widgets from `tree` (this checkout), one thread each."""
    root, port = base / "root", _free_port()
    root.mkdir()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "ws"),
        "PYTHONPATH": os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    settings = base / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={base / 'ws'}",
        "--LabApp.expose_app_in_browser=True",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    log = base / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    lab = Lab(f"http://127.0.0.1:{port}", root, process, log)
    try:
        _wait_for_server(lab)
        yield lab
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_server(lab: Lab) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited:\n{lab.log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"JupyterLab did not start in 90 s:\n{lab.log.read_text(errors='replace')}")


def write_notebook(path: Path, cells: list[str]) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


# -- the page ----------------------------------------------------------------------------------------------
@dataclass
class Page:
    page: Any
    quiet_ms: float
    until: str
    console_errors: list[str] = field(default_factory=list)

    def execute(self, code: str) -> str:
        result = self.page.evaluate(_EXECUTE, code)
        if result["error"]:
            raise RuntimeError(f"{code!r} raised {result['error']}")
        return result["stdout"]

    def python(self, expression: str) -> Any:
        out = self.execute(f"import json as _j; print('\\x1e' + _j.dumps({expression}))")
        return json.loads(out.rsplit("\x1e", 1)[1])

    def measure(self, click: Callable[[], None] | tuple[float, float]) -> dict[str, Any]:
        """Arm the probe, click, wait until the explorer settles; the probe's record plus kernel time.

        A click at a point first hovers there for `HOVER_MS` (as a hand does: hover effects such as
        tooltips, or ipycytoscape's hover border that makes cytoscape resize and redraw 100 ms later,
        happen before the click and are not counted), then presses and releases.
        """
        if isinstance(click, tuple):
            x, y = click
            self.page.mouse.move(x, y)
            self.page.wait_for_timeout(HOVER_MS)
            self.page.evaluate("() => window.__ddpBench.arm()")
            self.page.mouse.down()
            self.page.mouse.up()
        else:
            self.page.evaluate("() => window.__ddpBench.arm()")
            click()
        mark = self.until == "mark" or (
            self.until == "auto"
            and self.page.evaluate("() => !!document.querySelector('.ddp-explorer [data-ddp-drawn]')")
        )
        record = self.page.evaluate(
            "([q, m]) => window.__ddpBench.settle(q, 60000, 1500, m)", [self.quiet_ms, mark]
        )
        record.update(self.python("_ddp_state()"))
        record["until"] = "mark" if mark else "last change"
        return record

    def speed(self) -> dict[str, float]:
        t = time.perf_counter()
        sum(i * i for i in range(3_000_000))
        py = (time.perf_counter() - t) * 1e3
        a = np.random.default_rng(0).standard_normal((300, 300))
        t = time.perf_counter()
        for _ in range(5):
            np.linalg.svd(a)
        svd = (time.perf_counter() - t) * 1e3
        js = self.page.evaluate("() => window.__ddpBench.speed()")
        return {"python_loop_ms": py, "numpy_svd_ms": svd, "js_loop_ms": js["js"], "dom_ms": js["dom"]}


def speed_line(s: dict[str, float]) -> str:
    return (
        f"speed: python loop {s['python_loop_ms']:.0f} ms · numpy 5×svd(300²) {s['numpy_svd_ms']:.0f} ms · "
        f"JS loop {s['js_loop_ms']:.0f} ms · DOM 3000 rows {s['dom_ms']:.0f} ms"
    )


def open_explorer(context: Any, lab: Lab, model: str, quiet_ms: float, until: str) -> Page:
    name = f"bench_{model}.ipynb"
    write_notebook(lab.root / name, [HARNESS, MODELS[model]])
    page = Page(context.new_page(), quiet_ms, until)
    page.page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.page.on("pageerror", lambda e: page.console_errors.append(f"uncaught: {e}"))
    page.page.goto(f"{lab.url}/lab/tree/{name}?reset")
    page.page.wait_for_function(_KERNEL_IDLE, timeout=120_000)
    page.page.evaluate(_RUN_ALL)
    page.page.wait_for_function(_KERNEL_IDLE, timeout=900_000, polling=500)
    errors = page.page.evaluate(_CELL_ERRORS)
    if errors:
        raise RuntimeError(f"the {model} notebook raised: {errors}")
    for condition in (
        "document.querySelectorAll('.ddp-explorer .bqplot svg').length >= 4",
        "document.querySelectorAll('.ddp-explorer .ddp-graph canvas').length >= 1",
        "document.querySelectorAll('.ddp-explorer .ddp-top-images .ddp-ImageGrid-tile canvas').length >= 1",
    ):
        page.page.wait_for_function(f"() => {condition}", timeout=120_000)
    page.page.wait_for_timeout(1500)
    return page


# -- clicks ------------------------------------------------------------------------------------------------
Target = Callable[[], None] | tuple[float, float]  # an action, or a point to click


class Clicker:
    """The five click types; each call clicks the k-th target of its kind (cycling, never the current one)."""

    def __init__(self, page: Page) -> None:
        self.p = page.page
        self.names: list[str] = page.python("list(ex.analysis.names)")

    def layer_list(self, k: int) -> Target:
        select = self.p.locator(".ddp-explorer .ddp-layer-selector select").first
        current = select.evaluate("s => s.selectedIndex")
        i = (k + 1) % len(self.names)
        i = (i + 1) % len(self.names) if i == current else i
        return lambda: select.select_option(index=i)

    def metrics_point(self, k: int) -> Target:
        points = self.p.evaluate(_METRIC_POINTS)
        if not points:
            raise RuntimeError("no metric points drawn")
        i = len(points) - 1 - (k % len(points))  # from the last layer backwards: other layers than the list's
        current = self.p.evaluate(
            "() => document.querySelector('.ddp-explorer .ddp-layer-selector select').selectedIndex"
        )
        if len(points) == len(self.names) and i == current:
            i = (i - 1) % len(points)
        return points[i]["x"], points[i]["y"]

    def _tile(self, grid: str, k: int) -> Target:
        tiles = self.p.locator(f".ddp-explorer {grid} .ddp-ImageGrid-tile")
        n = tiles.count()
        selected = self.p.evaluate(
            f"() => [...document.querySelectorAll('.ddp-explorer {grid} .ddp-ImageGrid-tile')]"
            ".findIndex(t => t.classList.contains('ddp-mod-selected'))"
        )
        i = (k + 1) % n
        i = (i + 1) % n if i == selected and n > 1 else i
        box = tiles.nth(i).bounding_box()
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def filter_tile(self, k: int) -> Target:
        return self._tile(".ddp-filters", k)

    def top_image(self, k: int) -> Target:
        return self._tile(".ddp-top-images", k)

    def hypergraph_node(self, k: int) -> Target:
        nodes = [n for n in self.p.evaluate(_GRAPH_NODES) if not n["sel"]]
        classes = [n for n in nodes if n["id"].startswith("c|")]
        neurons = [n for n in nodes if n["id"].startswith("n|")]
        pool = (classes if k % 2 == 0 else neurons) or nodes  # alternately a class and an SVD neuron
        if not pool:
            raise RuntimeError("no hypergraph node drawn")
        n = pool[(k // 2) % len(pool)]
        return n["x"], n["y"]

    def target(self, kind: str, k: int) -> Target:
        return getattr(self, kind.replace(" ", "_"))(k)


def run_clicks(page: Page, clicks: int) -> dict[str, list[dict[str, Any]]]:
    """Rounds of one click of each type (interleaved, so machine noise spreads over all types)."""
    clicker = Clicker(page)
    seen = {page.python("ex.selection.layer")}
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in CLICK_TYPES}
    for k in range(clicks):
        for kind in CLICK_TYPES:
            try:
                target = clicker.target(kind, k)
            except RuntimeError as exc:  # e.g. a layer whose hypergraph has nothing to draw
                results[kind].append({"error": str(exc), "latency": None, "first_visit": False})
                continue
            record = page.measure(target)
            record["first_visit"] = kind in LAYER_CHANGING and record["layer"] not in seen
            seen.add(record["layer"])
            results[kind].append(record)
    return results


# -- report ------------------------------------------------------------------------------------------------
HEADER = (
    f"{'click':<16}{'n':>3}{'median':>9}{'p90':>8}{'first visits':>17}{'mark':>8}{'kernel':>9}{'1st msg':>9}"
    f"{'last msg':>9}{'long tasks':>11}{'msgs in':>8}{'open':>6}{'close':>6}{'echo':>5}{'out':>5}{'kB in':>8}"
)


def summary_line(kind: str, records: list[dict[str, Any]]) -> str:
    ok = [r for r in records if r["latency"] is not None and not r["error"]]
    if not ok:
        return f"{kind:<16}{0:>3}   no measurement ({', '.join(sorted({r['error'] for r in records}))})"
    lat = np.array([r["latency"] for r in ok])
    first = [r["latency"] for r in ok if r["first_visit"]]
    first_text = f"{np.median(first):.0f} ms (n={len(first)})" if first else "-"
    med = {
        key: float(np.median([r[key] for r in ok]))
        for key in (
            "kernel_ms",
            "msgs_in",
            "comm_open",
            "comm_close",
            "echo_update",
            "msgs_out",
            "bytes_in",
            "long_tasks",
        )
    }
    reply = {
        key: float(np.median(v)) if (v := [r[key] for r in ok if r[key] is not None]) else float("nan")
        for key in ("first_reply", "last_reply")
    }
    why = sorted({r["error"] or "no change seen" for r in records if r not in ok})
    failed = f"   ({len(records) - len(ok)} not measured: {'; '.join(why)})" if why else ""
    marked = [r["mark_latency"] for r in ok if r.get("mark_latency") is not None]
    mark_text = f"{np.median(marked):.0f} ms" if marked else "-"
    return (
        f"{kind:<16}{len(ok):>3}{np.median(lat):>6.0f} ms{np.percentile(lat, 90):>5.0f} ms{first_text:>17}"
        f"{mark_text:>8}"
        f"{med['kernel_ms']:>6.0f} ms{reply['first_reply']:>6.0f} ms{reply['last_reply']:>6.0f} ms"
        f"{med['long_tasks']:>8.0f} ms{med['msgs_in']:>8.0f}{med['comm_open']:>6.0f}{med['comm_close']:>6.0f}"
        f"{med['echo_update']:>5.0f}{med['msgs_out']:>5.0f}{med['bytes_in'] / 1e3:>8.1f}{failed}"
    )


def report(
    model: str,
    page: Page,
    results: dict[str, list[dict[str, Any]]],
    before: dict[str, float],
    after: dict[str, float],
) -> None:
    until = {r["until"] for rs in results.values() for r in rs}
    print(
        f"\n== {TITLES[model]} · until {'/'.join(sorted(until))} · quiet {page.quiet_ms:.0f} ms (not counted)"
    )
    print(f"  {speed_line(before)}   (before)")
    print("  " + HEADER)
    for kind, records in results.items():
        print("  " + summary_line(kind, records))
    print(f"  {speed_line(after)}   (after)")
    print(
        "  per click (medians): from the click's release to the last change; p90 includes first visits;"
        " mark = until every view's drawn mark carries the click's generation (its messages handled, before"
        " the paint);"
        " kernel = summed widget handler time in the kernel; 1st/last msg = arrival of the kernel's"
        " first/last message; long tasks = main-thread tasks > 50 ms; messages and kB on the kernel websocket"
    )
    targets = [
        (k, np.median(lat), np.percentile(lat, 90))
        for k, rs in results.items()
        if (lat := [r["latency"] for r in rs if r["latency"] is not None and not r["error"]])
    ]
    met = all(m <= 100 and p <= 200 for _, m, p in targets)
    print(f"  targets (median <= 100 ms, p90 <= 200 ms, idle machine): {'met' if met else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="default,resnet50", help="comma-separated: default, resnet50")
    parser.add_argument("--clicks", type=int, help="clicks per type and model (default 15, --quick 3)")
    parser.add_argument("--quiet-ms", type=float, default=400.0, help="no change for this long = settled")
    parser.add_argument(
        "--until",
        choices=("auto", "mutations", "mark"),
        default="mutations",
        help="end of a click judged against the targets: the last change in the explorer (default: what "
        "the user sees), or the moment every view's data-ddp-drawn mark carries the click's generation "
        "(mark; auto: mark where the explorer has marks). Both are printed.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: default model, 3 clicks per type")
    parser.add_argument("--json", type=Path, help="write every click's record here")
    parser.add_argument(
        "--tree", type=Path, default=ROOT, help="the checkout whose ddp_widgets the kernel imports"
    )
    parser.add_argument(
        "--trace", action="store_true", help="keep each click's timeline of changes and messages (--json)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.quiet_ms = "default", 300.0
    args.clicks = args.clicks or (3 if args.quick else 15)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - set(MODELS)
    if unknown:
        parser.error(f"unknown model(s) {sorted(unknown)}: use {', '.join(MODELS)}")
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is missing: apt-get update && apt-get install -y chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    raw: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ddp-bench-") as tmp,
        jupyterlab(Path(tmp), args.tree.resolve()) as lab,
        sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            str(Path(tmp) / "profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        context.add_init_script(path=str(PROBE))
        context.set_default_timeout(60_000)
        print(
            f"browser latency benchmark · {time.strftime('%Y-%m-%d %H:%M:%S')} · {os.cpu_count()} CPUs · "
            f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())} · {args.clicks} clicks per type"
        )
        try:
            for model in models:
                t = time.perf_counter()
                page = open_explorer(context, lab, model, args.quiet_ms, args.until)
                if args.trace:
                    page.page.evaluate("() => { window.__ddpBench.tracing = true; }")
                where = page.python("dw.__file__")
                print(
                    f"\n{model}: explorer ready in {time.perf_counter() - t:.0f} s (kernel imports {where})"
                )
                before = page.speed()
                results = run_clicks(page, args.clicks)
                after = page.speed()
                report(model, page, results, before, after)
                raw[model] = {
                    "speed_before": before,
                    "speed_after": after,
                    "clicks": results,
                    "console_errors": page.console_errors,
                }
                page.page.evaluate("() => window.jupyterapp.serviceManager.sessions.shutdownAll()")
                page.page.close()
        finally:
            context.close()
    print(f"\nload after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
