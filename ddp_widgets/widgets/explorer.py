"""Explorer and explore(): every view laid out together, linked by one Selection."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from ..analysis import SpectralAnalysis
from ..selection import Selection
from ._base import FONT, note_html
from .hypergraph_explorer import HypergraphExplorer
from .layer_metrics import LayerMetrics
from .layer_selector import LayerSelector
from .singular_vectors import SingularVectorView
from .spectrum_plot import SpectrumPlot

__all__ = ["Explorer", "explore"]

_CSS = """<style>
.ddp-explorer .ddp-layer-selector select { font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
.ddp-explorer .ddp-panel { border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 4px; padding: 6px; }
.ddp-explorer .widget-toggle-buttons .widget-toggle-button { font-size: 12px; }
</style>"""


class Explorer(widgets.GridBox):
    """All views of a model in one layout, sharing `selection`.

    Attributes: selection, analysis, profile, and the views layer_selector, spectrum, metrics, vectors,
    hypergraph (None without a profile). `messages` lists what went wrong while building (also shown).
    """

    def __init__(self, analysis: SpectralAnalysis | None, *, profile: Any = None, images: Any = None, labels: Any = None,
                 selection: Selection | None = None, messages: Sequence[str] = (), title: str = "",
                 compute_metrics: str = "auto") -> None:
        self.analysis, self.profile = analysis, profile
        self.selection = selection if selection is not None else Selection()
        self.messages = list(messages)
        self.status = widgets.HTML("")
        self.layer_selector = self.spectrum = self.metrics = self.vectors = self.hypergraph = None
        area = lambda name: widgets.Layout(grid_area=name, min_width="0", overflow="hidden")
        header = widgets.VBox([widgets.HTML(_CSS), self.status], layout=area("header"))
        if analysis is None:
            super().__init__(children=[header], layout=widgets.Layout(width="100%", grid_template_areas='"header"'))
            self.add_class("ddp-explorer")
            self._show_status(title)
            return
        self.selection.attach(analysis, profile)
        first = analysis.names[0]
        self.selection.select(layer=self.selection.layer if self.selection.layer in analysis.names else first,
                              singular_index=self.selection.singular_index if self.selection.singular_index is not None else 0)
        self.layer_selector = LayerSelector(analysis, self.selection)
        self.spectrum = SpectrumPlot(analysis, self.selection)
        self.metrics = LayerMetrics(analysis, self.selection, compute=compute_metrics)
        self.metrics.on_computed.append(self.layer_selector.refresh_badges)
        self.layer_selector.refresh_badges()
        self.vectors = SingularVectorView(analysis, self.selection, profile=profile, images=images, labels=labels)
        views: list[tuple[widgets.Widget, str]] = [(self.layer_selector, "layers"), (self.spectrum, "spectrum"),
                                                   (self.metrics, "metrics"), (self.vectors, "vectors")]
        areas = '"header header" "layers spectrum" "metrics vectors"'
        if profile is not None:
            # centred class means at t = 0.3 show what sets classes apart (the controls switch back)
            self.hypergraph = HypergraphExplorer(profile, self.selection, threshold=0.3, center=True)
            views.append((self.hypergraph, "graph"))
            areas += ' "graph graph"'
        for view, name in views:
            view.layout.grid_area = name
            view.add_class("ddp-panel")
        super().__init__(
            children=[header, *(v for v, _ in views)],
            layout=widgets.Layout(width="100%", grid_template_columns="minmax(0, 2fr) minmax(0, 3fr)",
                                  grid_template_areas=areas, grid_gap="8px"),
        )
        self.add_class("ddp-explorer")
        self._show_status(title)

    @property
    def views(self) -> list[Any]:
        return [v for v in (self.layer_selector, self.spectrum, self.metrics, self.vectors, self.hypergraph) if v is not None]

    def _show_status(self, title: str) -> None:
        parts = [f"<b>{html.escape(title)}</b>"] if title else []
        if self.analysis is not None:
            parts.append(f"{len(self.analysis.names)} decomposable layers")
            if self.profile is not None:
                parts.append(f"profile of {self.profile.n_images} images, {len(self.profile.class_names)} classes")
            else:
                parts.append("no profile (pass data=... to see SVD-neuron signals and the class hypergraph)")
        text = note_html(" · ".join(parts))
        for m in self.messages:
            text += note_html(html.escape(m), "error")
        self.status.value = f'<div style="{FONT}">{text}</div>'

    def close(self) -> None:
        for v in self.views:
            v.close()
        super().close()


def _num(x: Any) -> int:
    return int(x.shape[0]) if hasattr(x, "shape") and len(x.shape) else len(x)


def _check_data(analysis: SpectralAnalysis, data: Any, labels: Any) -> Any:
    """Validate tensor-like data and labels against the model; return data as a float tensor."""
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if not isinstance(data, torch.Tensor):
        return data  # DataLoader / Dataset / iterable: the profiler checks batches as they come
    first = analysis.layers[0]
    expected = first.input_shape
    if expected is not None and first.order == 0:
        if data.dim() != len(expected) or tuple(data.shape[1:2]) != tuple(expected[1:2]):
            want = "(N, " + ", ".join(map(str, expected[1:])) + ")"
            raise ValueError(
                f"data of shape {tuple(data.shape)} does not fit the model: it expects a batch of inputs shaped "
                f"{want} ({expected[1]} channels). Reshape or normalise the data the way the model was trained"
            )
    if labels is not None and _num(labels) != data.shape[0]:
        raise ValueError(f"labels has {_num(labels)} entries but data has {data.shape[0]} inputs: give one class label per input")
    return data.float() if not data.is_floating_point() else data


def _display_images(data: Any, labels: Any) -> tuple[Any, Any]:
    """What to show as dataset images, and their labels: the data itself, or a TensorDataset's tensors."""
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return data, labels
    tensors = getattr(getattr(data, "dataset", data), "tensors", None)  # DataLoader / TensorDataset
    if tensors:
        return tensors[0], (tensors[1] if labels is None and len(tensors) > 1 else labels)
    return None, labels


def explore(model: Any = None, data: Any = None, labels: Any = None, *, images: Any = None,
            class_names: Sequence[str] | None = None, example_input: Any = None, batch_size: int = 64,
            selection: Selection | None = None, compute_metrics: str = "auto", progress: bool = True) -> Explorer:
    """Open the explorer: layer list, spectra, metrics, singular filters and (with data) the class hypergraph.

    model=None opens the embedded default model (MiniVGG on Fashion-MNIST) with its sample images.
    data: images (tensor (N, C, H, W)), a DataLoader or a Dataset; labels: one class index per image
    (not needed for a DataLoader of (x, y)). images: what to show as top images (default: the data).
    Metrics of all layers are computed at once for small models and on a button's press for large ones;
    the hypergraph starts on centred class means at threshold 0.3 (its controls switch back to the plain
    means and the profile's threshold).
    Problems (no decomposable layer, data of the wrong shape, labels of the wrong length) are shown in
    the widget; nothing is raised.
    """
    title = ""
    try:
        if model is None:
            from ..zoo import default_example_input, load_default_data, load_default_model

            model = load_default_model()
            example_input = default_example_input() if example_input is None else example_input
            title = "MiniVGG (embedded default, Fashion-MNIST)"
            if data is None:
                d = load_default_data()
                data, labels, class_names = d.images, d.labels, d.class_names
                images = d.raw if images is None else images
        title = title or type(model).__name__
        analysis = SpectralAnalysis(model, example_input, progress=False)
    except Exception as exc:  # noqa: BLE001 - shown in the widget
        return Explorer(None, messages=[f"Cannot analyse this model: {exc}"], title=title or type(model).__name__)
    messages, profile = [], None
    if data is not None:
        try:
            data = _check_data(analysis, data, labels)
            from ..profiling import Profiler

            profile = Profiler(analysis).profile(data, labels, batch_size=batch_size, class_names=class_names, progress=progress)
            shown, labels = _display_images(data, labels)
            images = shown if images is None else images
        except Exception as exc:  # noqa: BLE001
            messages.append(f"No profile: {exc}")
            profile = None
    try:
        return Explorer(analysis, profile=profile, images=images if profile is not None else None,
                        labels=labels if profile is not None else None, selection=selection, messages=messages,
                        title=title, compute_metrics=compute_metrics)
    except Exception as exc:  # noqa: BLE001
        return Explorer(None, messages=[*messages, f"Cannot build the explorer: {type(exc).__name__}: {exc}"], title=title)
