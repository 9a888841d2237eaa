"""What the spectrum plots draw, computed once for the views (bqplot) and the figures (matplotlib).

Pure numpy: the ESD histogram as a density, the Marchenko–Pastur curve and the power-law line on it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .core import mp_density

__all__ = ["LOG_RANGE", "esd_histogram", "mp_curve", "power_law_line"]

LOG_RANGE = 6  # decades of λ shown on a log axis


def esd_histogram(
    eigenvalues: np.ndarray, log: bool, bins: int | None = None, lo: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Density histogram of the eigenvalues as a step curve (x, y); log-spaced bins when `log`.

    The density is normalised over all eigenvalues, so MP and power-law densities overlay it directly;
    eigenvalues below `lo` (and, on a log scale, zeros) are counted but not drawn.
    """
    ev = np.asarray(eigenvalues, np.float64)
    ev = ev[np.isfinite(ev)]
    n_all = ev.size
    if log:
        ev = ev[ev > 0]
    if lo is not None:
        ev = ev[ev >= lo]
    if ev.size == 0:
        return np.zeros(0), np.zeros(0)
    nb = bins or int(np.clip(np.sqrt(ev.size) * 1.5, 6, 80))
    lo, hi = float(ev.min()), float(ev.max())
    if hi <= lo:
        lo, hi = (lo * 0.9, hi * 1.1) if lo > 0 else (lo - 0.5, hi + 0.5)
    edges = (
        np.geomspace(lo, hi * (1 + 1e-9), nb + 1)
        if log
        else np.linspace(min(lo, 0.0), hi * (1 + 1e-9), nb + 1)
    )
    counts, edges = np.histogram(ev, bins=edges)
    density = counts / (n_all * np.diff(edges))
    return np.repeat(edges, 2)[1:-1], np.repeat(density, 2)


def mp_curve(spec: Any, log: bool, floor: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The fitted Marchenko–Pastur density over its bulk [λ₋, λ₊].

    On a log axis: only where it is above `floor`.
    """
    mp = spec.mp
    if not (math.isfinite(mp.sigma2) and mp.lambda_plus > max(mp.lambda_minus, 0)):
        return np.zeros(0), np.zeros(0)
    lo = max(mp.lambda_minus, mp.lambda_plus * 1e-4) if log else mp.lambda_minus
    x = (
        np.geomspace(lo, mp.lambda_plus, 160)
        if log and lo > 0
        else np.linspace(mp.lambda_minus, mp.lambda_plus, 160)
    )
    y = mp_density(x, spec.Q, mp.sigma2)
    return (x[y > floor], y[y > floor]) if log else (x, y)


def power_law_line(spec: Any, log: bool, floor: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The fitted power law ρ(λ) ∝ λ^(−α) on its tail [x_min, λ_max].

    Scaled to the tail's share of the ESD.
    """
    pl, ev = spec.power_law, spec.eigenvalues
    if not (math.isfinite(pl.alpha) and pl.xmin > 0 and pl.n_tail > 0 and ev.size):
        return np.zeros(0), np.zeros(0)
    x = np.geomspace(pl.xmin, max(pl.xmax, pl.xmin * 1.01), 60)
    y = (pl.n_tail / ev.size) * (pl.alpha - 1.0) / pl.xmin * (x / pl.xmin) ** (-pl.alpha)
    keep = y > (floor if log else 0)
    return x[keep], y[keep]
