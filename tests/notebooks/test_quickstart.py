"""The quickstart notebook runs headless (nbclient) and its saved widget state holds the linked views."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import nbformat
import notebook_runner
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01_quickstart.ipynb"


def test_quickstart_is_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "widgets" not in nb.metadata
    assert max(len(c.source.splitlines()) for c in code) <= 4  # small cells


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    return notebook_runner.execute(NOTEBOOK.name, tmp_path_factory.mktemp("quickstart"))


@pytest.mark.slow
def test_quickstart_executes_without_errors(executed: nbformat.NotebookNode) -> None:
    errors = notebook_runner.errors(executed)
    assert not errors, errors
    last = executed.cells[-1].outputs[0]["data"]["text/plain"]
    assert "layer='classifier.0'" in last and "neuron=2" in last


@pytest.mark.slow
def test_saved_widget_state_holds_the_views(executed: nbformat.NotebookNode) -> None:
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = Counter(m["model_name"] for m in state.values())
    # the explorer's grid, bqplot figures and marks, the cytoscape graph, image grids, the layer list
    for name in (
        "VBoxModel",
        "FigureModel",
        "ScatterModel",
        "BarsModel",
        "CytoscapeModel",
        "AnyModel",
        "SelectModel",
    ):
        assert models[name] >= 1, f"no {name} in the saved widget state: {sorted(models)}"
    grids = [
        m["state"]
        for m in state.values()
        if m["state"].get("_anywidget_id") == "ddp_widgets.widgets.image_grid.ImageGrid"
    ]
    assert grids and all("ddp-ImageGrid-tile" in g["_esm"] for g in grids)  # the image grid's own module
    # the stand-alone SpectrumPlot, then the explorer's 3 + 1 figures
    assert models["FigureModel"] >= 2 + 3 + 1
    text = json.dumps(state)
    for layer in ("features.0", "features.7", "classifier.0"):
        assert layer in text
    selects = [m["state"] for m in state.values() if m["model_name"] == "SelectModel"]
    firsts = [s["_options_labels"][0].replace("\u00a0", " ") for s in selects if s.get("_options_labels")]
    assert any(f.startswith("0 features.0    α=") and f.endswith("Conv2d 32×1×3×3") for f in firsts), firsts
    nodes = [m["state"] for m in state.values() if m["model_name"] == "NodeModel"]
    assert any(n["data"]["id"].startswith("c|") for n in nodes) and any(
        n["data"]["id"].startswith("n|") for n in nodes
    )


def _outputs(nb: nbformat.NotebookNode) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


@pytest.mark.slow
def test_every_view_output_is_followed_by_its_static_snapshot(executed: nbformat.NotebookNode) -> None:
    import base64

    for cell in executed.cells:
        kinds = [o.get("data", {}) for o in cell.get("outputs", [])]
        for i, data in enumerate(kinds):
            if (
                "application/vnd.jupyter.widget-view+json" in data
                and "needs a running kernel" in data["text/plain"]
            ):
                snapshot = kinds[i + 1]["text/html"]
                assert 'class="ddp-static"' in snapshot and "rendering the static snapshot" not in snapshot
                pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', snapshot)
                assert pngs and all(base64.b64decode(p).startswith(b"\x89PNG") for p in pngs)
    html = "".join(o["data"].get("text/html", "") for o in _outputs(executed) if "data" in o)
    assert html.count('class="ddp-static"') >= 2  # the SpectrumPlot cell and the explorer
    assert "MiniVGG (embedded default, Fashion-MNIST)" in html
    # the last cell moved the selection: the explorer's snapshot was rendered again after it
    assert "selection: layer classifier.0, SVD neuron 2" in html


@pytest.mark.slow
def test_no_progress_widget_or_raw_widget_text_is_left_behind(executed: nbformat.NotebookNode) -> None:
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    texts = [o.get("data", {}).get("text/plain", "") for o in _outputs(executed)]
    for o in _outputs(executed):
        view = o.get("data", {}).get("application/vnd.jupyter.widget-view+json")
        if view is not None:  # a widget output whose model is gone shows as a stuck line once saved
            assert view["model_id"] in state, o["data"]["text/plain"]
    assert not any(
        t.startswith(("HBox(children", "Explorer(children", "IntProgress", "FloatProgress")) for t in texts
    )
    assert any(t.startswith("profiled in ") for t in texts)  # the profile cell's progress, now one plain line
    assert not any(re.match(r"^\s*\d+%\|", t) for t in texts)  # no tqdm bar (its text: "  0%|   | 0/16 ...")


@pytest.mark.slow
def test_nbconvert_html_carries_the_static_snapshots_beside_the_widget_state(
    executed: nbformat.NotebookNode,
) -> None:
    from nbconvert import HTMLExporter

    page, _ = HTMLExporter().from_notebook_node(executed)
    assert page.count('class="ddp-static"') >= 2
    assert page.count("data:image/png;base64,") >= 9
    assert 'type="application/vnd.jupyter.widget-state+json"' in page
    assert ".jp-OutputArea:has(.ddp-live)" in page  # hidden where the widgets render (online)
    assert "ddp_widgets.widgets.image_grid.ImageGrid" in page
