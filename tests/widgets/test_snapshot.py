"""Static snapshots: every view and the explorer display a second output, HTML with inline PNGs."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import pytest

from ddp_widgets.widgets import LayerSelector, SpectrumPlot
from ddp_widgets.widgets._snapshot import LIVE_CLASS, STATIC_CLASS

PNG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
WIDGET = "application/vnd.jupyter.widget-view+json"


def _pngs(html: str) -> list[Any]:
    from PIL import Image

    images = []
    for data in PNG.findall(html):
        im = Image.open(io.BytesIO(base64.b64decode(data)))
        im.load()
        images.append(im)
    return images


class Recorder:
    """Stands in for IPython.display.display: records the bundles and the in-place updates."""

    def __init__(self) -> None:
        self.shown: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []

    def __call__(self, bundle: dict[str, Any], raw: bool = False, display_id: Any = None) -> Any:
        assert raw
        self.shown.append(dict(bundle))
        rec = self

        class Handle:
            def update(self, new: dict[str, Any], raw: bool = False) -> None:
                rec.updates.append(dict(new))

        return Handle() if display_id else None


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    import IPython.display

    rec = Recorder()
    monkeypatch.setattr(IPython.display, "display", rec)
    return rec


def test_explorer_snapshot_holds_every_view_as_pictures(explorer: Any) -> None:
    html = explorer.snapshot_html()
    assert f'class="{STATIC_CLASS}"' in html and "tiny" in html
    images = _pngs(html)
    # rank + ESD, metric, filters + top images + class signal, graph
    assert len(images) == 7 and all(im.format == "PNG" and im.size[0] > 200 for im in images)
    for name in explorer.analysis.names:
        assert name in html  # the layer list, as text
    assert "<svg" not in html and "<script" not in html  # what notebook sanitizers keep


def test_display_gives_the_live_view_then_the_snapshot(explorer: Any, recorder: Recorder) -> None:
    explorer._ipython_display_()
    live, placeholder = recorder.shown
    assert set(live) == {WIDGET, "text/plain"} and live[WIDGET]["model_id"] == explorer.model_id
    assert not live["text/plain"].startswith("Explorer(") and "needs a running kernel" in live["text/plain"]
    assert "rendering the static snapshot" in placeholder["text/html"]
    (final,) = recorder.updates  # outside IPython the snapshot is rendered at once, in place
    assert f".jp-OutputArea:has(.{LIVE_CLASS})" in final["text/html"]  # hidden where the live view renders
    assert len(_pngs(final["text/html"])) == 7
    assert LIVE_CLASS in explorer._dom_classes and all(LIVE_CLASS in v._dom_classes for v in explorer.views)


def test_refresh_snapshot_renders_the_current_selection(explorer: Any, recorder: Recorder) -> None:
    explorer._ipython_display_()
    explorer.selection.layer = explorer.analysis.names[2]
    explorer.refresh_snapshot()
    assert len(recorder.updates) == 2
    assert f"selection: layer {explorer.analysis.names[2]}" in recorder.updates[-1]["text/html"]


def test_each_view_displays_its_own_snapshot(analysis: Any, recorder: Recorder) -> None:
    from ddp_widgets import Selection

    sel = Selection.for_analysis(analysis, layer=analysis.names[1])
    SpectrumPlot(analysis, sel)._ipython_display_()
    assert len(_pngs(recorder.updates[-1]["text/html"])) == 2
    LayerSelector(analysis, sel)._ipython_display_()
    assert analysis.names[1] in recorder.updates[-1]["text/html"]


def test_snapshots_can_be_turned_off(
    explorer: Any, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DDP_WIDGETS_SNAPSHOTS", "0")
    explorer._ipython_display_()
    assert len(recorder.shown) == 1 and not recorder.updates


def test_a_failing_snapshot_never_hides_the_live_view(
    explorer: Any, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> str:
        raise RuntimeError("no fonts")

    monkeypatch.setattr(explorer, "snapshot_html", broken)
    explorer._ipython_display_()
    assert WIDGET in recorder.shown[0]
    assert "no static snapshot: RuntimeError(&#x27;no fonts&#x27;)" in recorder.updates[-1]["text/html"]
