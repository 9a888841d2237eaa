"""The linked views of ddp-widgets (ipywidgets), each built as ``View(analysis_or_profile, selection)``.

- `LayerSelector`: the layers in forward order, with kind, shape and an α / stable-rank badge
- `SpectrumPlot`: singular values and the ESD with its Marchenko–Pastur and power-law fits (bqplot)
- `LayerMetrics`: one metric across layers, trained against a baseline (bqplot)
- `SingularVectorView`: singular filters; with a profile, top images and class signal of an SVD neuron
- `HypergraphExplorer`: classes and SVD neurons as a bipartite graph (ipycytoscape, behind an adapter)
- `Explorer` / `explore()`: all of them in one layout (built from the list `VIEWS`), linked by one `Selection`
- `ImageGrid`: the image-grid widget of the labextension
"""

from __future__ import annotations

from ..selection import Selection
from .explorer import VIEWS, Explorer, ViewEntry, explore
from .hypergraph_explorer import HypergraphExplorer
from .image_grid import ImageGrid
from .layer_metrics import LayerMetrics
from .layer_selector import LayerSelector
from .singular_vectors import SingularVectorView
from .spectrum_plot import SpectrumPlot

__all__ = [
    "VIEWS",
    "Explorer",
    "HypergraphExplorer",
    "ImageGrid",
    "LayerMetrics",
    "LayerSelector",
    "Selection",
    "SingularVectorView",
    "SpectrumPlot",
    "ViewEntry",
    "explore",
]
