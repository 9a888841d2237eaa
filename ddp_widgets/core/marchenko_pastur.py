"""Marchenko–Pastur law: density, quantiles and a robust fit of an ESD's random bulk.

For an N×M matrix (N ≥ M, Q = N/M) with i.i.d. entries of variance σ², the M eigenvalues of WᵀW/N
follow ρ(λ) = Q/(2πσ²λ) · √((λ₊ − λ)(λ − λ₋)) on [λ₋, λ₊], λ± = σ²(1 ± 1/√Q)².
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MP_METHODS = ("median", "mean", "max")


@dataclass(frozen=True)
class MPFit:
    sigma2: float  # fitted entry variance σ²
    lambda_minus: float
    lambda_plus: float  # bulk edge; eigenvalues above it are spikes
    Q: float
    num_spikes: int  # eigenvalues above λ₊
    bulk_fraction: float  # share of eigenvalues inside [λ₋, λ₊]
    method: str


def mp_edges(Q: float, sigma2: float = 1.0) -> tuple[float, float]:
    r = 1.0 / math.sqrt(Q)
    return sigma2 * (1.0 - r) ** 2, sigma2 * (1.0 + r) ** 2


def mp_density(x: np.ndarray, Q: float, sigma2: float = 1.0) -> np.ndarray:
    """ρ(λ) of the Marchenko–Pastur law (zero outside the bulk)."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = mp_edges(Q, sigma2)
    inside = (x > lo) & (x < hi) & (x > 0)
    out = np.zeros_like(x)
    xi = x[inside]
    out[inside] = Q / (2.0 * math.pi * sigma2 * xi) * np.sqrt((hi - xi) * (xi - lo))
    return out


@lru_cache(maxsize=256)
def _mp_cdf_table(Q: float, points: int = 4097) -> tuple[np.ndarray, np.ndarray]:
    """(λ, CDF) on a grid for σ² = 1. The substitution λ = λ₋ + (λ₊ − λ₋)(1 − cos θ)/2 removes the
    square-root singularities at both edges, so the trapezoid rule is accurate."""
    lo, hi = mp_edges(Q)
    theta = np.linspace(0.0, math.pi, points)
    lam = lo + (hi - lo) * (1.0 - np.cos(theta)) / 2.0
    dlam = (hi - lo) * np.sin(theta) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        integrand = (
            np.where(
                lam > 0, Q / (2 * math.pi * lam) * np.sqrt(np.clip((hi - lam) * (lam - lo), 0, None)), 0.0
            )
            * dlam
        )
    if Q == 1.0:  # ρ ~ λ^(-1/2) at 0: θ-substitution leaves a finite integrand, fix the first point
        integrand[0] = integrand[1]
    cdf = np.concatenate([[0.0], np.cumsum((integrand[1:] + integrand[:-1]) / 2.0 * np.diff(theta))])
    return lam, cdf / cdf[-1]


def mp_quantile(p: float, Q: float) -> float:
    """The p-quantile of the MP law with σ² = 1."""
    lam, cdf = _mp_cdf_table(round(float(Q), 9))
    return float(np.interp(p, cdf, lam))


def fit_marchenko_pastur(eigenvalues: np.ndarray, Q: float, method: str = "median") -> MPFit:
    """Fit σ² of the MP bulk to an ESD.

    method="median" (default, robust to spikes and a heavy tail): match the ESD's median to the MP
    median; "mean": σ² = mean eigenvalue (exact for pure noise, inflated by spikes); "max": DDP's plotting
    choice, which puts λ₊ at λ_max (σ² = λ_max / (1 + 1/√Q)²), so no spikes by construction.
    """
    ev = np.asarray(eigenvalues, dtype=np.float64)
    ev = ev[np.isfinite(ev)]
    if ev.size == 0 or Q < 1:
        return MPFit(math.nan, math.nan, math.nan, Q, 0, math.nan, method)
    if method == "median":
        sigma2 = float(np.median(ev)) / mp_quantile(0.5, Q)
    elif method == "mean":
        sigma2 = float(np.mean(ev))
    elif method == "max":
        sigma2 = float(np.max(ev)) / (1.0 + 1.0 / math.sqrt(Q)) ** 2
    else:
        from .errors import unknown_option

        raise unknown_option("MP fit method", method, MP_METHODS)
    lo, hi = mp_edges(Q, sigma2)
    tol = 1e-9 * max(hi, 1e-300)
    inside = float(np.mean((ev >= lo - tol) & (ev <= hi + tol)))
    spikes = int(np.sum(ev > hi + tol))
    return MPFit(sigma2, lo, hi, Q, spikes, inside, method)
