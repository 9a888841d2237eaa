"""The texts that the views and the figures share, so that a figure says exactly what its view shows.

The index of an SVD neuron is "SVD neuron k" everywhere; α is only the power-law exponent.
"""

from __future__ import annotations

__all__ = [
    "CLASS_SIGNAL_TITLE",
    "CLASS_SIGNAL_Y",
    "DENSITY",
    "ESD_X",
    "METRICS",
    "METRIC_X",
    "NEURON_AXIS",
    "SIGMA",
    "esd_title",
    "fmt",
    "metric_axis_label",
    "neuron_label",
    "neuron_tile_label",
    "rank_title",
]

import math

NEURON_AXIS = "SVD neuron k (0 = largest σ)"
SIGMA = "σ"
ESD_X = "λ = σ² / N"
DENSITY = "density"
METRIC_X = "layer (forward order)"
CLASS_SIGNAL_TITLE = "mean signal per class"
CLASS_SIGNAL_Y = "mean signal"
# metric column -> label; the first six have a baseline (SpectralAnalysis.compare)
METRICS = {
    "alpha": "α (power-law exponent)",
    "num_spikes": "spikes above the MP bulk",
    "stable_rank": "stable rank",
    "spectral_norm": "spectral norm λ_max",
    "mp_sigma2": "MP σ²",
    "ks_distance": "KS distance of the α fit",
    "alpha_weighted": "α-weighted (α · log λ_max)",
    "log_norm": "log₁₀ Frobenius norm²/N",
    "rank": "numerical rank",
}


def metric_axis_label(metric: str) -> str:
    """A metric's axis label: its name without the explanation in brackets (the metric menu has it)."""
    return METRICS.get(metric, metric).split(" (")[0]


def fmt(x: object, spec: str = ".3g") -> str:
    """A number for a label; "–" for NaN, infinity or a missing value."""
    return format(x, spec) if isinstance(x, (int, float)) and math.isfinite(x) else "–"


def neuron_label(layer: str, k: int) -> str:
    return f"SVD neuron {k} of {layer}"


def neuron_tile_label(k: int, sigma: float) -> str:
    return f"{k}·σ{sigma:.2g}"  # short: it sits under a 50-64 px tile


def rank_title(layer: str) -> str:
    return f"σ of {layer}"


def esd_title(alpha: float, num_spikes: int) -> str:
    return f"ESD · α = {fmt(alpha, '.2f')} · {num_spikes} spikes"
