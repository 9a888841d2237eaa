"""Power-law tail fit of an ESD: Clauset–Shalizi–Newman continuous MLE with x_min chosen by minimum KS.

Vectorised in numpy: for each candidate x_min the MLE exponent is closed-form,
α = 1 + n / Σ ln(x_i / x_min), and the KS distance between the tail's empirical CDF and the fitted CDF
P(x) = 1 − (x / x_min)^(1 − α) is evaluated for all candidates at once, in row chunks so memory stays
bounded. The `powerlaw` package computes the same quantities one candidate at a time; tests use it as
an oracle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PowerLawFit:
    alpha: float  # exponent of the density ρ(λ) ~ λ^(−α)
    xmin: float  # start of the fitted tail
    xmax: float
    ks_distance: float  # KS distance D of the tail to the fit
    n_tail: int  # number of eigenvalues ≥ xmin
    sigma: float  # standard error of α: (α − 1) / √n_tail
    note: str = ""

    @property
    def mu(self) -> float:
        """DDP's exponent μ = 2(α − 1) (0 ≤ μ ≤ 4: well regularised; 4 < μ < 7: somewhat; else likely untrained)."""
        return 2.0 * (self.alpha - 1.0)


NAN_FIT = PowerLawFit(math.nan, math.nan, math.nan, math.nan, 0, math.nan, "too few eigenvalues to fit")


def _alphas(x: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MLE α and tail sizes for tails x[i:] (x sorted ascending) starting at each index in `starts`."""
    logx = np.log(x / x[0])  # relative to the smallest value: smaller sums, less cancellation below
    tail_log_sum = np.cumsum(logx[::-1])[::-1]  # Σ_{j ≥ i} ln x_j
    n = x.size - starts
    denom = tail_log_sum[starts] - n * logx[starts]
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 + n / denom
    return alpha, n


def _ks_distances(x: np.ndarray, starts: np.ndarray, alpha: np.ndarray, chunk_elems: int = 1 << 22) -> np.ndarray:
    """KS distance of each candidate tail to its fitted power law (vectorised, chunked)."""
    size = x.size
    out = np.empty(starts.size)
    rows = max(1, chunk_elems // max(size, 1))
    j = np.arange(size)
    for lo in range(0, starts.size, rows):
        s = starts[lo : lo + rows, None]
        a = alpha[lo : lo + rows, None]
        n = size - s
        mask = j[None, :] >= s
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            fit_cdf = 1.0 - (x[None, :] / x[s]) ** (1.0 - a)
        emp = (j[None, :] - s) / n  # empirical CDF just below each tail point
        diff = np.where(mask, np.abs(fit_cdf - emp), 0.0)
        out[lo : lo + rows] = diff.max(axis=1)
    return out


def fit_power_law(
    values: np.ndarray,
    xmin: float | None = None,
    *,
    min_tail: int = 5,
    max_candidates: int = 2000,
    max_work: int = 1 << 24,
) -> PowerLawFit:
    """Fit ρ(λ) ~ λ^(−α) to the tail of `values` (e.g. the ESD eigenvalues).

    xmin: fix the start of the tail; by default it is chosen among the data points (leaving at least
    `min_tail` points in the tail) to minimise the KS distance, as Clauset, Shalizi & Newman (2009).
    At most `max_candidates` candidates (and at most `max_work` / len(values) of them, so that very large
    ESDs such as the operator view stay fast) are scanned, evenly spaced over the distinct values.
    Non-positive values are ignored (they carry no tail information).
    """
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    x = x[np.isfinite(x) & (x > 0)]
    if x.size < min_tail + 1:
        return NAN_FIT
    if xmin is not None:
        start = int(np.searchsorted(x, xmin, side="left"))
        if x.size - start < 2:
            return PowerLawFit(math.nan, float(xmin), float(x[-1]), math.nan, x.size - start, math.nan, "xmin leaves fewer than 2 points")
        starts = np.array([start])
        alpha, n = _alphas(x, starts)
        alpha = alpha.copy()
        alpha[0] = 1.0 + n[0] / np.sum(np.log(x[start:] / xmin))
        ks = _ks_distances_fixed(x[start:], float(xmin), float(alpha[0]))
        return PowerLawFit(float(alpha[0]), float(xmin), float(x[-1]), ks, int(n[0]), float((alpha[0] - 1) / math.sqrt(n[0])))
    # candidate starts: first occurrence of each distinct value, leaving at least min_tail points
    distinct = np.flatnonzero(np.r_[True, np.diff(x) > 0])
    starts = distinct[distinct <= x.size - min_tail]
    if starts.size == 0:
        return NAN_FIT
    limit = max(16, min(max_candidates, max_work // x.size))
    if starts.size > limit:
        starts = np.unique(starts[np.linspace(0, starts.size - 1, limit).round().astype(int)])
    alpha, n = _alphas(x, starts)
    ks = _ks_distances(x, starts, alpha)
    ks = np.where(np.isfinite(alpha) & (alpha > 1) & (x[starts] < x[-1]), ks, np.inf)  # a constant tail has no α
    best = int(np.argmin(ks))
    if not np.isfinite(ks[best]):  # e.g. all values equal (an orthogonal matrix): no tail to fit
        return PowerLawFit(math.nan, math.nan, float(x[-1]), math.nan, 0, math.nan, "no tail to fit: the values are all equal")
    a = float(alpha[best])
    return PowerLawFit(a, float(x[starts[best]]), float(x[-1]), float(ks[best]), int(n[best]), (a - 1) / math.sqrt(n[best]))


def _ks_distances_fixed(tail: np.ndarray, xmin: float, alpha: float) -> float:
    n = tail.size
    fit_cdf = 1.0 - (tail / xmin) ** (1.0 - alpha)
    emp = np.arange(n) / n
    return float(np.max(np.abs(fit_cdf - emp)))


def sample_power_law(alpha: float, n: int, xmin: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """Draw n samples of a continuous power law with density ∝ x^(−α) on [xmin, ∞) (inverse CDF)."""
    rng = rng or np.random.default_rng(0)
    return xmin * (1.0 - rng.random(n)) ** (-1.0 / (alpha - 1.0))
