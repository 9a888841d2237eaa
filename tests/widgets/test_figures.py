"""Publication figures: on the default model, each figure says what its view shows; files parse back."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ddp_widgets as dw
from ddp_widgets import figures
from ddp_widgets.core.errors import ViewError


@pytest.fixture(scope="module")
def ex() -> Any:
    explorer = dw.explore(progress=False)
    explorer.selection.select(layer="features.7", neuron=3, class_label=2)
    yield explorer
    explorer.close()


def _texts(fig: Any) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text()]


def _ax(fig: Any) -> Any:
    return fig.axes[0]


def test_matplotlib_is_imported_only_when_a_figure_is_made() -> None:
    code = (
        "import sys, ddp_widgets, ddp_widgets.figures, ddp_widgets.widgets, ddp_widgets.session; "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_spectrum_figures_say_what_the_spectrum_plot_shows(ex: Any) -> None:
    figs = ex.spectrum.figures()
    rank, esd = figs["spectrum_features.7_rank"], figs["spectrum_features.7_esd"]
    assert _ax(rank).get_title() == ex.spectrum.rank_fig.title == "σ of features.7"
    assert _ax(esd).get_title() == ex.spectrum.esd_fig.title
    assert _ax(rank).get_xlabel() == ex.spectrum._rank_axes[0].label == "SVD neuron k (0 = largest σ)"
    assert _ax(rank).get_ylabel() == ex.spectrum._rank_axes[1].label
    assert (_ax(esd).get_xlabel(), _ax(esd).get_ylabel()) == (
        ex.spectrum._esd_axes[0].label,
        ex.spectrum._esd_axes[1].label,
    )
    # the same σ and the same selected neuron as the bqplot scatter
    sigma = _ax(rank).lines[0].get_ydata()
    np.testing.assert_allclose(sigma, ex.spectrum.points.y, rtol=0, atol=0)
    assert "SVD neuron 3 of features.7" in _texts(esd)


def test_metric_figure_draws_the_views_values_and_layer_names(ex: Any) -> None:
    ex.metrics.metric.value = "stable_rank"
    fig = ex.metrics.figures()["metrics_stable_rank_permuted"]
    assert _ax(fig).get_ylabel() == ex.metrics.y_axis.label == "stable rank"
    assert [t.get_text() for t in _ax(fig).get_xticklabels()] == ex.analysis.names
    np.testing.assert_array_equal(_ax(fig).lines[0].get_ydata(), ex.metrics.trained.y)
    np.testing.assert_array_equal(_ax(fig).lines[1].get_ydata(), ex.metrics.base.y)


def test_filter_and_top_image_captions_are_the_grids_labels(ex: Any) -> None:
    figs = ex.vectors.figures()
    filters = figs["vectors_features.7_filters"]
    captions = [a.get_title() for a in filters.axes if a.images]
    assert captions == list(ex.vectors.filters.labels) and captions[0].startswith("0·σ")
    top = figs["vectors_features.7_3_top_images"]
    assert [a.get_title() for a in top.axes if a.images] == list(ex.vectors.top_images.labels)
    assert top._suptitle.get_text() == "SVD neuron 3 of features.7"
    assert "SVD neuron 3 of features.7" in ex.vectors.neuron_header.value


def test_class_signal_figure_names_the_classes_as_the_bar_chart(ex: Any) -> None:
    fig = ex.vectors.figures()["vectors_features.7_3_class_signal"]
    ax = _ax(fig)
    assert (
        [t.get_text() for t in ax.get_xticklabels()]
        == list(ex.vectors.bars.x)
        == list(ex.profile.class_names)
    )
    assert ax.get_title().startswith(ex.vectors.class_fig.title)
    assert ax.get_ylabel() == ex.vectors.class_fig.axes[1].label
    np.testing.assert_allclose([p.get_height() for p in ax.patches], ex.vectors.bars.y, rtol=0, atol=0)
    # the selected class stands out
    assert ax.patches[2].get_facecolor()[:3] != ax.patches[0].get_facecolor()[:3]


def test_hypergraph_figure_is_hypernetx_drawing_of_the_drawn_classes(ex: Any) -> None:
    figs = ex.hypergraph.figures()
    assert list(figs) == ["hypergraph_features.7"]
    texts = set(_texts(figs["hypergraph_features.7"]))
    drawn_classes = {n["label"] for n in ex.hypergraph._elements["nodes"] if n["kind"] == "class"}
    linked = {m for e in ex.hypergraph.hypergraph.edges.values() for m in e}
    assert linked and linked <= texts and linked <= drawn_classes
    assert "class hypergraph · features.7" in texts


def _check_file(path: Path) -> None:
    data = path.read_bytes()
    if path.suffix == ".svg":
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")
    elif path.suffix == ".png":
        from PIL import Image

        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size[0] >= 900  # 3.4 in at 300 dpi
    else:
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        assert len(re.findall(rb"/Type\s*/Page\b", data)) == 1


@pytest.mark.slow
def test_save_figures_writes_valid_svg_png_pdf_of_the_selection(ex: Any, tmp_path: Path) -> None:
    paths = ex.save_figures(tmp_path / "out")
    stems = {p.stem for p in paths}
    assert stems == {
        "spectrum_features.7_rank",
        "spectrum_features.7_esd",
        f"metrics_{ex.metrics.metric.value}_permuted",
        "vectors_features.7_filters",
        "vectors_features.7_3_top_images",
        "vectors_features.7_3_class_signal",
        "hypergraph_features.7",
        "dashboard_features.7_3_class_signal",
        "dashboard_features.7_3_poles",
    }
    assert sorted(p.suffix for p in paths) == sorted([".svg", ".png", ".pdf"] * len(stems))
    for p in paths:
        _check_file(p)
    svg = (tmp_path / "out" / "spectrum_features.7_rank.svg").read_text()
    assert "σ of features.7" in svg  # text kept as text, searchable


def test_export_button_writes_the_views_figures(ex: Any, tmp_path: Path) -> None:
    ex.spectrum.export_folder.value = str(tmp_path / "spectrum")
    ex.spectrum.export_button.click()
    written = sorted(p.name for p in (tmp_path / "spectrum").iterdir())
    assert written == sorted(
        f"spectrum_features.7_{k}.{f}" for k in ("esd", "rank") for f in ("pdf", "png", "svg")
    )
    assert "wrote 6 files" in ex.spectrum.export_note.value
    assert ex.spectrum.last_error is None


def test_bad_format_is_refused(ex: Any, tmp_path: Path) -> None:
    with pytest.raises(ViewError, match=r"unknown figure format\(s\) \['jpg'\]: use some of svg, png, pdf"):
        ex.spectrum.save_figures(tmp_path, formats=("jpg",))


def test_figure_functions_work_from_kernel_objects_alone(ex: Any) -> None:
    sa, prof = ex.analysis, ex.profile
    assert _ax(figures.esd(sa, "features.5", overlays=("slices",))).get_legend() is not None
    # the short axis label the view shows
    assert _ax(figures.layer_metric(sa, "alpha", "none")).get_ylabel() == "α"
    fig = figures.top_images(prof, "classifier.0", 1, ex.images, ex.labels, n=4)
    assert len([a for a in fig.axes if a.images]) == 4
    width, _ = figures.rank_plot(sa, "classifier.3").get_size_inches()
    assert width == figures.COLUMN_WIDTH
