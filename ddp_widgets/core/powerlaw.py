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

FIT_STYLES = ("csn", "ww")
SMALL_N = 20  # fewer eigenvalues than this: α is unreliable (and WeightWatcher switches to its small-n fit)
WW_THRESHOLD = 1e-5  # WeightWatcher 0.7.7 fits only eigenvalues above this


@dataclass(frozen=True)
class PowerLawFit:
    alpha: float  # exponent of the density ρ(λ) ~ λ^(−α)
    xmin: float  # start of the fitted tail
    xmax: float
    ks_distance: float  # KS distance D of the tail to the fit
    n_tail: int  # number of eigenvalues ≥ xmin
    sigma: float  # standard error of α: (α − 1) / √n_tail
    note: str = ""
    candidates: int = 0  # x_min candidates there were
    scanned: int = 0  # x_min candidates scanned (all of them unless max_candidates capped the scan)
    n_values: int = 0  # eigenvalues the fit saw


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


def _rows_per_chunk(width: int, chunk_elems: int = 1 << 22) -> int:
    return max(1, chunk_elems // max(width, 1))


def _ks_distances(x: np.ndarray, starts: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Exact KS distance of each candidate tail to its fitted power law (vectorised, chunked)."""
    size = x.size
    out = np.empty(starts.size)
    rows = _rows_per_chunk(size)
    j = np.arange(size)
    for lo in range(0, starts.size, rows):
        s = starts[lo : lo + rows, None]
        a = alpha[lo : lo + rows, None]
        n = size - s
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            fit_cdf = 1.0 - (x[None, :] / x[s]) ** (1.0 - a)
        emp = (j[None, :] - s) / n  # empirical CDF just below each tail point
        diff = np.where(j[None, :] >= s, np.abs(fit_cdf - emp), 0.0)
        out[lo : lo + rows] = diff.max(axis=1)
    return out


def _ks_bounds(
    x: np.ndarray, starts: np.ndarray, alpha: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of each candidate's KS distance from the tail points at `grid` only.

    Both CDFs increase along the tail, so between two grid points the gap is at most
    max(F(b) − E(a), E(b) − F(a)); at the grid points it is exact (same arithmetic as _ks_distances).
    """
    size = x.size
    lower, upper = np.empty(starts.size), np.empty(starts.size)
    rows = _rows_per_chunk(grid.size)
    xg = x[grid][None, :]
    for lo in range(0, starts.size, rows):
        s = starts[lo : lo + rows, None]
        a = alpha[lo : lo + rows, None]
        inside = grid[None, :] > s
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            f = np.where(inside, 1.0 - (xg / x[s]) ** (1.0 - a), 0.0)
        e = np.where(inside, (grid[None, :] - s) / (size - s), 0.0)
        low = np.abs(f - e).max(axis=1)
        zero = np.zeros((f.shape[0], 1))
        f, e = np.hstack([zero, f]), np.hstack([zero, e])  # the tail's first point: both CDFs 0
        seg = np.maximum(f[:, 1:] - e[:, :-1], e[:, 1:] - f[:, :-1]).max(axis=1)
        lower[lo : lo + rows], upper[lo : lo + rows] = low, np.maximum(low, seg)
    return lower, upper


def _best_candidate(
    x: np.ndarray, starts: np.ndarray, alpha: np.ndarray, valid: np.ndarray
) -> tuple[int, float]:
    """(index into starts, KS distance) of the minimum-KS candidate among the valid ones, first on ties.

    Exact over every candidate. When that would be a large amount of work, candidates are pruned first
    by KS bounds on ever finer grids of tail points: a candidate whose lower bound exceeds the best upper
    bound cannot be the minimum. The survivors are evaluated exactly.
    """
    cand = np.flatnonzero(valid)
    if cand.size == 0:
        return -1, math.inf
    size = x.size
    step = max(1, size // 64)
    while cand.size * size > (1 << 24) and step > 1:
        grid = np.unique(np.r_[np.arange(0, size, step), size - 1])
        lower, upper = _ks_bounds(x, starts[cand], alpha[cand], grid)
        promising = cand[np.argsort(upper, kind="stable")[:8]]  # their exact D tightens the cut
        bound = min(float(upper.min()), float(_ks_distances(x, starts[promising], alpha[promising]).min()))
        cand = cand[lower <= bound + 1e-12]
        step //= 8
    ks = _ks_distances(x, starts[cand], alpha[cand])
    best = int(np.argmin(ks))
    return int(cand[best]), float(ks[best])


def _clean(values: np.ndarray, style: str) -> np.ndarray:
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    return x[np.isfinite(x) & (x > (WW_THRESHOLD if style == "ww" else 0.0))]


def fit_power_law(
    values: np.ndarray,
    xmin: float | None = None,
    *,
    min_tail: int = 5,
    max_candidates: int | None = None,
    style: str = "csn",
) -> PowerLawFit:
    """Fit ρ(λ) ~ λ^(−α) to the tail of `values` (e.g. the ESD eigenvalues).

    xmin: fix the start of the tail; by default it is chosen to minimise the KS distance (Clauset,
    Shalizi & Newman 2009) over every candidate: style="csn" (default) tries each distinct value leaving at
    least `min_tail` points in the tail; style="ww" is WeightWatcher 0.7.7's fit: eigenvalues above 1e-5
    only, every data point but the largest as a candidate, and below 20 values its small-n rule (a
    bias-corrected α and a KS objective favouring longer tails). max_candidates: scan only that many
    candidates, evenly spaced (recorded in the result's `note` and `scanned`). Non-positive values are
    ignored (they carry no tail information).
    """
    if style not in FIT_STYLES:
        from .errors import unknown_option

        raise unknown_option("power-law fit style", style, FIT_STYLES)
    x = _clean(values, style)
    if xmin is not None:
        return _fixed_xmin_fit(x, float(xmin), min_tail)
    if style == "ww" and 2 <= x.size < SMALL_N:
        return _ww_small_n_fit(x)
    if x.size < (2 if style == "ww" else min_tail + 1):
        return NAN_FIT
    if style == "ww":
        starts = np.arange(x.size - 1)
    else:  # first occurrence of each distinct value, leaving at least min_tail points
        distinct = np.flatnonzero(np.r_[True, np.diff(x) > 0])
        starts = distinct[distinct <= x.size - min_tail]
    total = int(starts.size)
    if total == 0:
        return NAN_FIT
    note = ""
    if max_candidates is not None and total > max_candidates:
        starts = np.unique(starts[np.linspace(0, total - 1, max(1, max_candidates)).round().astype(int)])
        note = f"x_min scan capped: {starts.size} of {total} candidates (max_candidates={max_candidates})"
    alpha, n = _alphas(x, starts)
    constant = x[starts] >= x[-1]
    valid = np.isfinite(alpha) & (alpha > 1) & (~constant if style == "csn" else True)
    best, ks = _best_candidate(x, starts, alpha, valid)
    extra = {"candidates": total, "scanned": int(starts.size), "n_values": int(x.size)}
    if best < 0:  # e.g. all values equal (an orthogonal matrix): no tail to fit
        return PowerLawFit(
            math.nan,
            math.nan,
            float(x[-1]),
            math.nan,
            0,
            math.nan,
            "no tail to fit: the values are all equal",
            **extra,
        )
    a = float(alpha[best])
    return PowerLawFit(
        a, float(x[starts[best]]), float(x[-1]), ks, int(n[best]), (a - 1) / math.sqrt(n[best]), note, **extra
    )


def _fixed_xmin_fit(x: np.ndarray, xmin: float, min_tail: int) -> PowerLawFit:
    if x.size < min_tail + 1:
        return NAN_FIT
    start = int(np.searchsorted(x, xmin, side="left"))
    if x.size - start < 2:
        return PowerLawFit(
            math.nan,
            xmin,
            float(x[-1]),
            math.nan,
            x.size - start,
            math.nan,
            "xmin leaves fewer than 2 points",
        )
    n = x.size - start
    alpha = 1.0 + n / float(np.sum(np.log(x[start:] / xmin)))
    ks = _ks_distances_fixed(x[start:], xmin, alpha)
    return PowerLawFit(
        alpha, xmin, float(x[-1]), ks, n, (alpha - 1) / math.sqrt(n), "x_min fixed", 1, 1, int(x.size)
    )


def _ww_small_n_fit(x: np.ndarray, k_min: int = 8) -> PowerLawFit:
    """WeightWatcher 0.7.7's fit for fewer than 20 values: a bias-corrected α = 1 + (n − 1)/Σ ln(x/x_min)
    on tails of at least k_min points, x_min at the minimum KS distance (its WWFit takes the argmin of D
    after the small-n pass, so the pass's own objective does not decide); the whole sample when no tail
    qualifies."""
    size = x.size
    logx = np.log(x)
    alphas, ds = np.zeros(size - 1), np.ones(size - 1)
    fitted = np.zeros(size - 1, dtype=bool)
    for i in range(size - 1):
        n = size - i
        s = float(np.sum(logx[i:]) - n * logx[i])
        if n < k_min or s <= 1e-12:
            continue
        alphas[i] = 1.0 + (n - 1.0) / s
        if alphas[i] > 1.0:
            ds[i] = _ks_distances_fixed(x[i:], float(x[i]), float(alphas[i]))
            fitted[i] = True
    if not fitted.any():  # no qualifying tail: the whole sample
        s = float(np.sum(logx) - size * logx[0])
        if s > 1e-12:
            alphas[0] = 1.0 + (size - 1.0) / s
            ds[0] = _ks_distances_fixed(x, float(x[0]), float(alphas[0]))
    best = int(np.argmin(ds))
    a, n = float(alphas[best]), size - best
    note = f"only {size} eigenvalues (< {SMALL_N}): WeightWatcher's small-n fit, unreliable"
    return PowerLawFit(
        a,
        float(x[best]),
        float(x[-1]),
        float(ds[best]),
        n,
        (a - 1) / math.sqrt(n),
        note,
        candidates=size - 1,
        scanned=size - 1,
        n_values=int(size),
    )


def _ks_distances_fixed(tail: np.ndarray, xmin: float, alpha: float) -> float:
    n = tail.size
    fit_cdf = 1.0 - (tail / xmin) ** (1.0 - alpha)
    emp = np.arange(n) / n
    return float(np.max(np.abs(fit_cdf - emp)))


def sample_power_law(
    alpha: float, n: int, xmin: float = 1.0, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Draw n samples of a continuous power law with density ∝ x^(−α) on [xmin, ∞) (inverse CDF)."""
    rng = rng or np.random.default_rng(0)
    return xmin * (1.0 - rng.random(n)) ** (-1.0 / (alpha - 1.0))
