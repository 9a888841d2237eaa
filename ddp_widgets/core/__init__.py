"""Numerical core of ddp-widgets: pure torch/numpy, no UI package (not even pandas).

- layers: find every weighted layer of a model (`list_layers`, `get_layer`)
- decompose: the paper's unfolding and SVD (`unfold_weight`, `decompose`, `LayerSVD`)
- spectra, marchenko_pastur, powerlaw, operator, baselines: the random-matrix view of each layer
"""

from .baselines import (
    BASELINES,
    Baseline,
    BaselineWeight,
    baseline_weight,
    default_init_matrix,
    permuted_weight,
    random_init_weight,
)
from .decompose import LayerSVD, check_weight, decompose, singular_values, unfold_weight
from .errors import (
    BaselineModelError,
    DataError,
    DDPWidgetsError,
    InputShapeError,
    LayerNotDecomposableError,
    LayerNotProfilableError,
    MetaDeviceError,
    NeuronIndexError,
    NonFiniteWeightsError,
    NotAModuleError,
    NoWeightedLayersError,
    TorchScriptModelError,
    UnknownLayerError,
    UnknownOptionError,
)
from .featvis import FeatureVisualization, visualize_neuron
from .layers import LayerInfo, LayerList, get_layer, list_layers
from .marchenko_pastur import MPFit, fit_marchenko_pastur, mp_density, mp_edges
from .operator import OperatorSpectrum, operator_singular_values
from .powerlaw import PowerLawFit, fit_power_law
from .spectra import (
    VIEWS,
    Spectrum,
    SpectrumSettings,
    SpectrumView,
    alpha_hat,
    format_number,
    slice_singular_values,
    spectrum_from_values,
    spectrum_metrics,
)
from .weights import read_weight, unwrap_model

__all__ = [
    "BASELINES",
    "VIEWS",
    "Baseline",
    "BaselineModelError",
    "BaselineWeight",
    "DDPWidgetsError",
    "DataError",
    "FeatureVisualization",
    "InputShapeError",
    "LayerInfo",
    "LayerList",
    "LayerNotDecomposableError",
    "LayerNotProfilableError",
    "LayerSVD",
    "MPFit",
    "MetaDeviceError",
    "NeuronIndexError",
    "NoWeightedLayersError",
    "NonFiniteWeightsError",
    "NotAModuleError",
    "OperatorSpectrum",
    "PowerLawFit",
    "Spectrum",
    "SpectrumSettings",
    "SpectrumView",
    "TorchScriptModelError",
    "UnknownLayerError",
    "UnknownOptionError",
    "alpha_hat",
    "baseline_weight",
    "check_weight",
    "decompose",
    "default_init_matrix",
    "fit_marchenko_pastur",
    "fit_power_law",
    "format_number",
    "get_layer",
    "list_layers",
    "mp_density",
    "mp_edges",
    "operator_singular_values",
    "permuted_weight",
    "random_init_weight",
    "read_weight",
    "singular_values",
    "slice_singular_values",
    "spectrum_from_values",
    "spectrum_metrics",
    "unfold_weight",
    "unwrap_model",
    "visualize_neuron",
]
