"""Numerical core of ddp-widgets: pure torch/numpy, no UI package (not even pandas).

- layers: find every weighted layer of a model (`list_layers`, `get_layer`)
- decompose: the paper's unfolding and SVD (`unfold_weight`, `decompose`, `LayerSVD`)
- spectra, marchenko_pastur, powerlaw, operator, baselines: the random-matrix view of each layer
"""

from .baselines import BASELINES, baseline_weight, permuted_weight, random_init_weight
from .decompose import LayerSVD, check_weight, decompose, singular_values, unfold_weight
from .errors import (
    DataError,
    DDPWidgetsError,
    InputShapeError,
    LayerNotDecomposableError,
    MetaDeviceError,
    NonFiniteWeightsError,
    NotAModuleError,
    NoWeightedLayersError,
    UnknownLayerError,
)
from .featvis import FeatureVisualization, visualize_neuron
from .layers import LayerInfo, LayerList, get_layer, list_layers
from .marchenko_pastur import MPFit, fit_marchenko_pastur, mp_density, mp_edges
from .operator import OperatorSpectrum, operator_singular_values
from .powerlaw import PowerLawFit, fit_power_law
from .spectra import Spectrum, alpha_hat, slice_singular_values, spectrum_from_values, spectrum_metrics

__all__ = [
    "BASELINES",
    "DDPWidgetsError",
    "DataError",
    "FeatureVisualization",
    "InputShapeError",
    "LayerInfo",
    "LayerList",
    "LayerNotDecomposableError",
    "LayerSVD",
    "MPFit",
    "MetaDeviceError",
    "NoWeightedLayersError",
    "NonFiniteWeightsError",
    "NotAModuleError",
    "OperatorSpectrum",
    "PowerLawFit",
    "Spectrum",
    "UnknownLayerError",
    "alpha_hat",
    "baseline_weight",
    "check_weight",
    "decompose",
    "fit_marchenko_pastur",
    "fit_power_law",
    "get_layer",
    "list_layers",
    "mp_density",
    "mp_edges",
    "operator_singular_values",
    "permuted_weight",
    "random_init_weight",
    "singular_values",
    "slice_singular_values",
    "spectrum_from_values",
    "spectrum_metrics",
    "unfold_weight",
    "visualize_neuron",
]
