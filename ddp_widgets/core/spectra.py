"""Per-layer spectra: the ESD, its Marchenko–Pastur and power-law fits, norms and the model metric α̂.

Three views of a layer's spectrum (PAPER §3):
- "unfolded": the paper's W̄ (d × c·k·k), per group for grouped convolutions;
- "slices": WeightWatcher's view, the k×k slices W[:, :, i, j] (each d × c) pooled into one ESD;
- "operator": the exact singular values of the convolution operator at the layer's input size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .marchenko_pastur import MPFit, fit_marchenko_pastur
from .powerlaw import PowerLawFit, fit_power_law

NORMALIZATIONS = ("mm", "ddp")
VIEWS = ("unfolded", "slices", "operator")


@dataclass(frozen=True)
class Spectrum:
    """One view of a layer's spectrum, with its fits. Arrays are float64 numpy, descending."""

    view: str
    singular_values: np.ndarray
    eigenvalues: np.ndarray  # λ = σ² / norm_by
    N: int  # larger dimension of one matrix (block)
    M: int  # smaller dimension
    norm_by: int  # what σ² was divided by: N (Martin–Mahoney) or the number of rows (DDP)
    normalization: str
    mp: MPFit
    power_law: PowerLawFit
    exact: bool = True
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def Q(self) -> float:
        return self.N / self.M if self.M else math.nan

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues[0]) if self.eigenvalues.size else math.nan


def _as_numpy_desc(values: torch.Tensor | np.ndarray) -> np.ndarray:
    v = values.detach().cpu().double().numpy() if isinstance(values, torch.Tensor) else np.asarray(values, np.float64)
    return np.sort(v.ravel())[::-1].copy()


def spectrum_from_values(
    singular_values: torch.Tensor | np.ndarray,
    N: int,
    M: int,
    *,
    rows: int | None = None,
    view: str = "unfolded",
    normalization: str = "mm",
    mp_method: str = "median",
    xmin: float | None = None,
    exact: bool = True,
    note: str = "",
) -> Spectrum:
    """Build a Spectrum (ESD and fits) from singular values of (one or several pooled) N×M matrices.

    normalization="mm" (Martin & Mahoney, default) divides σ² by N, the larger dimension; "ddp"
    (DeepDataProfiler) divides by the number of rows d of the unfolded matrix.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}: use 'mm' (Martin–Mahoney, ÷N) or 'ddp' (÷ rows)")
    sv = _as_numpy_desc(singular_values)
    norm_by = N if normalization == "mm" else (rows or N)
    ev = sv**2 / norm_by
    Q = N / M if M else math.nan
    mp = fit_marchenko_pastur(ev * (norm_by / N), Q, mp_method)  # MP is stated for ÷N
    if normalization != "mm" and math.isfinite(mp.sigma2):
        scale = N / norm_by
        mp = MPFit(mp.sigma2 * scale, mp.lambda_minus * scale, mp.lambda_plus * scale, Q, mp.num_spikes, mp.bulk_fraction, mp.method)
    pl = fit_power_law(ev, xmin=xmin)
    return Spectrum(view, sv, ev, N, M, norm_by, normalization, mp, pl, exact, note)


def slice_singular_values(weight: torch.Tensor, groups: int = 1) -> tuple[torch.Tensor, int, int]:
    """WeightWatcher's view: singular values of every k×k slice W[:, :, i, j] (per group), pooled.

    Returns (values, N, M) where N×M is the shape of one slice (larger first).
    """
    w = weight.detach()
    if w.dim() <= 2:
        mat = w.reshape(1, *w.shape)
    else:
        d, c = w.shape[:2]
        k = math.prod(w.shape[2:])
        # (k, g, d/g, c) -> (k·g, d/g, c)
        mat = w.reshape(groups, d // groups, c, k).permute(3, 0, 1, 2).reshape(k * groups, d // groups, c)
    tall = mat if mat.shape[-2] >= mat.shape[-1] else mat.transpose(-2, -1)
    values = torch.linalg.svdvals(tall).reshape(-1)
    return values, int(tall.shape[-2]), int(tall.shape[-1])


def numerical_rank(sv: np.ndarray, N: int) -> int:
    if sv.size == 0:
        return 0
    tol = sv[0] * N * np.finfo(np.float32).eps
    return int(np.sum(sv > tol))


def spectrum_metrics(spec: Spectrum) -> dict[str, Any]:
    """Per-layer metrics, named as WeightWatcher's columns where the meaning matches.

    norm = Σλ (= ‖W̄‖_F² / N), log_norm = log10 Σλ, spectral_norm = λ_max, log_spectral_norm = log10 λ_max,
    alpha_weighted = α · log10 λ_max, log_alpha_norm = log10 Σ λ^α, stable_rank = Σσ² / σ_max².
    """
    sv, ev = spec.singular_values, spec.eigenvalues
    pl, mp = spec.power_law, spec.mp
    lam_max = spec.lambda_max
    fro2 = float(np.sum(sv**2))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_alpha_norm = float(np.log10(np.sum(ev[ev > 0] ** pl.alpha))) if math.isfinite(pl.alpha) else math.nan
        alpha_weighted = pl.alpha * math.log10(lam_max) if lam_max > 0 else math.nan
    warning = ""
    if math.isfinite(pl.alpha):
        warning = "over-trained" if pl.alpha < 2 else "under-trained" if pl.alpha > 6 else ""
    return {
        "N": spec.N,
        "M": spec.M,
        "Q": spec.Q,
        "num_evals": int(ev.size),
        "rank": numerical_rank(sv, spec.N),
        "sv_max": float(sv[0]) if sv.size else math.nan,
        "sv_min": float(sv[-1]) if sv.size else math.nan,
        "frobenius_norm": math.sqrt(fro2),
        "norm": float(np.sum(ev)),
        "log_norm": math.log10(float(np.sum(ev))) if np.sum(ev) > 0 else math.nan,
        "lambda_max": lam_max,
        "spectral_norm": lam_max,
        "log_spectral_norm": math.log10(lam_max) if lam_max > 0 else math.nan,
        "stable_rank": fro2 / float(sv[0]) ** 2 if sv.size and sv[0] > 0 else math.nan,
        "alpha": pl.alpha,
        "alpha_sigma": pl.sigma,
        "alpha_weighted": alpha_weighted,
        "log_alpha_norm": log_alpha_norm,
        "xmin": pl.xmin,
        "xmax": pl.xmax,
        "n_tail": pl.n_tail,
        "ks_distance": pl.ks_distance,
        "mp_sigma2": mp.sigma2,
        "mp_lambda_minus": mp.lambda_minus,
        "mp_lambda_plus": mp.lambda_plus,
        "num_spikes": mp.num_spikes,
        "mp_bulk_fraction": mp.bulk_fraction,
        "warning": warning,
    }


def alpha_hat(alphas: np.ndarray, lambda_max: np.ndarray, base: float = math.e) -> float:
    """Model metric α̂ = (1/L) Σ_l α_l · log λ_max,l (natural log by default, as DDP), over finite layers."""
    a = np.asarray(alphas, np.float64)
    lm = np.asarray(lambda_max, np.float64)
    ok = np.isfinite(a) & np.isfinite(lm) & (lm > 0)
    if not ok.any():
        return math.nan
    return float(np.mean(a[ok] * np.log(lm[ok]) / math.log(base)))
