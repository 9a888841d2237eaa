from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .decompose import singular_values as _block_singular_values
from .decompose import unfold_weight
from .errors import InputShapeError, unknown_option
from .layers import LayerInfo
from .marchenko_pastur import MPFit, fit_marchenko_pastur
from .operator import operator_singular_values
from .powerlaw import SMALL_N, PowerLawFit, fit_power_law

NORMALIZATIONS = ("mm", "ddp", "ww")
CONVENTIONS = ("default", "ww")
WW_CONV2D_SCALE = math.sqrt(0.5)  # WeightWatcher 0.7.7 multiplies Conv2d slices by √(1/2) (conv2d_norm)


@dataclass(frozen=True)
class Spectrum:
    """One view of a layer's spectrum, with its fits. Arrays are float64 numpy, descending."""

    view: str
    singular_values: np.ndarray
    eigenvalues: np.ndarray  # λ = σ² / norm_by
    N: int  # larger dimension of one matrix (block)
    M: int  # smaller dimension
    norm_by: int  # what σ² was divided by: N (Martin–Mahoney), the number of rows (DDP) or 1 (WeightWatcher)
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


@dataclass(frozen=True)
class SpectrumSettings:
    """How spectra are normalised and fitted (shared by every view of one analysis)."""

    normalization: str = "mm"  # "mm" σ²/N | "ddp" σ²/rows | "ww" σ² (WeightWatcher: not divided)
    mp_method: str = "median"
    dtype: torch.dtype = torch.float32
    fit_style: str = "csn"  # "csn" Clauset–Shalizi–Newman | "ww" WeightWatcher 0.7.7's fit
    max_candidates: int | None = None  # cap of the x_min scan (None: every candidate)
    ww_slices: bool = False  # slices as WeightWatcher takes them: groups ignored, Conv2d scaled by √½


def _as_numpy_desc(values: torch.Tensor | np.ndarray) -> np.ndarray:
    v = (
        values.detach().cpu().double().numpy()
        if isinstance(values, torch.Tensor)
        else np.asarray(values, np.float64)
    )
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
    fit_style: str = "csn",
    max_candidates: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Spectrum:
    """Build a Spectrum (ESD and fits) from singular values of (one or several pooled) N×M matrices.

    normalization="mm" (Martin & Mahoney, default) divides σ² by N, the larger dimension; "ddp"
    (DeepDataProfiler) divides by the number of rows d of the unfolded matrix; "ww" (WeightWatcher)
    does not divide. fit_style and max_candidates go to `fit_power_law`.
    """
    if normalization not in NORMALIZATIONS:
        raise unknown_option("normalization", normalization, NORMALIZATIONS)
    sv = _as_numpy_desc(singular_values)
    norm_by = {"mm": N, "ddp": rows or N, "ww": 1}[normalization]
    ev = sv**2 / norm_by
    Q = N / M if M else math.nan
    mp = fit_marchenko_pastur(ev * (norm_by / N), Q, mp_method)  # MP is stated for ÷N
    if normalization != "mm" and math.isfinite(mp.sigma2):
        scale = N / norm_by
        mp = MPFit(
            mp.sigma2 * scale,
            mp.lambda_minus * scale,
            mp.lambda_plus * scale,
            Q,
            mp.num_spikes,
            mp.bulk_fraction,
            mp.method,
        )
    pl = fit_power_law(ev, xmin=xmin, style=fit_style, max_candidates=max_candidates)
    return Spectrum(view, sv, ev, N, M, norm_by, normalization, mp, pl, exact, note, dict(extra or {}))


def slice_singular_values(weight: torch.Tensor, groups: int = 1) -> tuple[torch.Tensor, int, int]:
    """WeightWatcher's view: singular values of every k×k slice W[:, :, i, j] (per group), pooled.

    Returns (values, N, M) where N×M is the shape of one slice (larger first).
    """
    values, n, m = _slice_values(weight, groups)
    return values.reshape(-1), n, m


def _slice_values(weight: torch.Tensor, groups: int = 1) -> tuple[torch.Tensor, int, int]:
    """(slices, r) singular values of each k×k slice, and the slice shape (larger first)."""
    w = weight.detach()
    if w.dim() <= 2:
        mat = w.reshape(1, *w.shape)
    else:
        d, c = w.shape[:2]
        k = math.prod(w.shape[2:])
        # (k, g, d/g, c) -> (k·g, d/g, c)
        mat = w.reshape(groups, d // groups, c, k).permute(3, 0, 1, 2).reshape(k * groups, d // groups, c)
    tall = mat if mat.shape[-2] >= mat.shape[-1] else mat.transpose(-2, -1)
    return torch.linalg.svdvals(tall), int(tall.shape[-2]), int(tall.shape[-1])


def _fit_kwargs(settings: SpectrumSettings) -> dict[str, Any]:
    return {
        "normalization": settings.normalization,
        "mp_method": settings.mp_method,
        "fit_style": settings.fit_style,
        "max_candidates": settings.max_candidates,
    }


def unfolded_spectrum(
    weight: torch.Tensor,
    layer: LayerInfo,
    settings: SpectrumSettings,
    *,
    singular_values: Any = None,
    note: str = "",
) -> Spectrum:
    """The paper's W̄ (d × c·k…, per group): `singular_values` when already computed."""
    rows, cols = layer.matrix_shape
    if singular_values is None:
        singular_values = _block_singular_values([unfold_weight(weight, layer.groups, settings.dtype)])[
            0
        ].reshape(-1)
    return spectrum_from_values(
        singular_values,
        max(rows, cols),
        min(rows, cols),
        rows=rows,
        view="unfolded",
        note=note,
        **_fit_kwargs(settings),
    )


def slices_spectrum(weight: torch.Tensor, layer: LayerInfo, settings: SpectrumSettings, **_: Any) -> Spectrum:
    """The k×k slices W[:, :, i, j] pooled; settings.ww_slices takes them as WeightWatcher 0.7.7 does."""
    if weight.dim() <= 2:
        return unfolded_spectrum(
            weight, layer, settings, note="a Linear layer has one view: its weight matrix"
        )
    w = weight.to(settings.dtype)
    groups = 1 if settings.ww_slices else layer.groups
    scaled = settings.ww_slices and w.dim() == 4
    if scaled:
        w = w * WW_CONV2D_SCALE
    per_slice, n, m = _slice_values(w, groups)
    extra = {"sv_min": float(per_slice.min(dim=-1).values.max())} if settings.ww_slices else {}
    note = (
        "WeightWatcher's slices: groups ignored" + (", scaled by √½" if scaled else "")
        if settings.ww_slices
        else ""
    )
    return spectrum_from_values(
        per_slice.reshape(-1),
        n,
        m,
        rows=weight.shape[0] // groups,
        view="slices",
        note=note,
        extra=extra,
        **_fit_kwargs(settings),
    )


def operator_spectrum(
    weight: torch.Tensor, layer: LayerInfo, settings: SpectrumSettings, *, input_size: Any = None, **_: Any
) -> Spectrum:
    """Singular values of the convolution operator at the layer's input size (exact or labelled)."""
    if weight.dim() <= 2:
        return unfolded_spectrum(
            weight, layer, settings, note="a Linear layer has one view: its weight matrix"
        )
    if input_size is None:
        raise InputShapeError(
            f"the operator view of '{layer.name}' needs the layer's input size: pass input_size=... "
            f"or build the analysis with example_input=... so the probe pass can record it"
        )
    op = operator_singular_values(
        weight,
        input_size,
        groups=layer.groups,
        dilation=layer.dilation,
        stride=layer.stride,
        padding=layer.padding,
        padding_mode=layer.padding_mode or "zeros",
        transposed=layer.transposed,
    )
    a, b = (layer.weight_shape[0] // layer.groups, layer.weight_shape[1])
    n_freq = int(np.prod(op.input_size))
    return spectrum_from_values(
        op.values,
        max(a, b) * n_freq,
        min(a, b) * n_freq,
        rows=a * n_freq,
        view="operator",
        exact=op.exact,
        note=op.note,
        **_fit_kwargs(settings),
    )


@dataclass(frozen=True)
class SpectrumView:
    """One way of looking at a layer's spectrum: its implementation, a label and the options it takes."""

    name: str
    label: str
    description: str
    compute: Callable[..., Spectrum]
    options: tuple[str, ...] = ()


VIEWS: dict[str, SpectrumView] = {
    v.name: v
    for v in (
        SpectrumView(
            "unfolded", "unfolded W̄", "the paper's unfolded matrix W̄ (d × c·k…), per group", unfolded_spectrum
        ),
        SpectrumView(
            "slices",
            "k×k slices",
            "WeightWatcher's view: the k×k slices W[:, :, i, j] pooled",
            slices_spectrum,
        ),
        SpectrumView(
            "operator",
            "conv operator",
            "the convolution operator's singular values at the layer's input size",
            operator_spectrum,
            ("input_size",),
        ),
    )
}


def get_view(name: str) -> SpectrumView:
    if name not in VIEWS:
        raise unknown_option("view", name, VIEWS)
    return VIEWS[name]


def format_number(x: Any, spec: str = ".3g") -> str:
    """A number for display: formatted when finite, "–" otherwise (NaN, None)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return format(v, spec) if math.isfinite(v) else "–"


def numerical_rank(sv: np.ndarray, N: int) -> int:
    if sv.size == 0:
        return 0
    tol = sv[0] * N * np.finfo(np.float32).eps
    return int(np.sum(sv > tol))


def spectrum_metrics(spec: Spectrum) -> dict[str, Any]:
    """Per-layer metrics, named as WeightWatcher's columns where the meaning matches.

    norm = Σλ (= ‖W̄‖_F² / N), log_norm = log10 Σλ, spectral_norm = λ_max, log_spectral_norm = log10 λ_max,
    alpha_weighted = α · log10 λ_max, log_alpha_norm = log10 Σ λ^α, stable_rank = Σσ² / σ_max².
    alpha_warning flags fits on fewer than 20 eigenvalues; fit_note says how x_min was found when not
    by a full scan. docs/metrics.md states every column under both conventions.
    """
    sv, ev = spec.singular_values, spec.eigenvalues
    pl, mp = spec.power_law, spec.mp
    lam_max = spec.lambda_max
    fro2 = float(np.sum(sv**2))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_alpha_norm = (
            float(np.log10(np.sum(ev[ev > 0] ** pl.alpha))) if math.isfinite(pl.alpha) else math.nan
        )
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
        "sv_min": float(spec.extra.get("sv_min", sv[-1] if sv.size else math.nan)),
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
        "alpha_warning": _alpha_warning(pl, int(ev.size)),
        "fit_note": pl.note,
    }


def _alpha_warning(pl: PowerLawFit, n_evals: int) -> str:
    n = pl.n_values or n_evals
    if n < SMALL_N:
        return f"unreliable: α fitted on only {n} eigenvalues (fewer than {SMALL_N})"
    return ""


def alpha_hat(alphas: np.ndarray, lambda_max: np.ndarray, base: float = math.e) -> float:
    """Model metric α̂ = (1/L) Σ_l α_l · log λ_max,l (natural log by default, as DDP), over finite layers."""
    a = np.asarray(alphas, np.float64)
    lm = np.asarray(lambda_max, np.float64)
    ok = np.isfinite(a) & np.isfinite(lm) & (lm > 0)
    if not ok.any():
        return math.nan
    return float(np.mean(a[ok] * np.log(lm[ok]) / math.log(base)))
