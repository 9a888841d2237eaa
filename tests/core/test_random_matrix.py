"""Random-matrix behaviour (PAPER §3): Marchenko–Pastur fits of Gaussian layers, power-law α against
the `powerlaw` package as an oracle."""

from __future__ import annotations

import importlib.metadata
import math
import warnings

import numpy as np
import pytest
import scipy.integrate
import torch

from ddp_widgets.core import (
    decompose,
    fit_marchenko_pastur,
    fit_power_law,
    mp_density,
    mp_edges,
    spectrum_from_values,
)
from ddp_widgets.core.errors import UnknownOptionError
from ddp_widgets.core.marchenko_pastur import mp_quantile
from ddp_widgets.core.powerlaw import sample_power_law


@pytest.mark.parametrize("rows,cols,variance", [(2000, 500, 0.02), (600, 1500, 1.0), (1200, 1000, 3e-4)])
def test_gaussian_layer_esd_lies_in_the_fitted_mp_bulk(rows, cols, variance):
    gen = torch.Generator().manual_seed(rows + cols)
    w = torch.randn(rows, cols, generator=gen, dtype=torch.float64) * math.sqrt(variance)
    sv = decompose(w, values_only=True, dtype=torch.float64)
    N, M = max(rows, cols), min(rows, cols)
    spec = spectrum_from_values(sv, N, M, rows=rows)
    mp = spec.mp
    assert spec.Q == pytest.approx(N / M)
    assert spec.eigenvalues.size == M
    inside = np.mean((spec.eigenvalues >= mp.lambda_minus) & (spec.eigenvalues <= mp.lambda_plus))
    assert inside >= 0.95
    assert mp.bulk_fraction >= 0.95
    assert mp.num_spikes <= 2
    assert mp.sigma2 == pytest.approx(variance, rel=0.05)
    assert (mp.lambda_minus, mp.lambda_plus) == pytest.approx(mp_edges(N / M, mp.sigma2))


def test_a_planted_spike_is_counted():
    """Add a strong rank-3 signal to noise: exactly those 3 eigenvalues leave the bulk."""
    gen = torch.Generator().manual_seed(7)
    n, m = 1500, 500
    noise = torch.randn(n, m, generator=gen, dtype=torch.float64)
    u = torch.linalg.qr(torch.randn(n, 3, generator=gen, dtype=torch.float64))[0]
    v = torch.linalg.qr(torch.randn(m, 3, generator=gen, dtype=torch.float64))[0]
    w = noise + u @ torch.diag(torch.tensor([200.0, 150.0, 120.0], dtype=torch.float64)) @ v.T
    spec = spectrum_from_values(decompose(w, values_only=True, dtype=torch.float64), n, m)
    assert spec.mp.num_spikes == 3
    assert spec.mp.sigma2 == pytest.approx(1.0, rel=0.05)


def test_mp_density_is_a_density_and_the_median_is_its_median():
    for Q in (1.0, 2.0, 4.0, 10.0):
        lo, hi = mp_edges(Q, 2.5)
        total, _ = scipy.integrate.quad(
            lambda x, Q=Q: mp_density(np.array([x]), Q, 2.5)[0], lo, hi, limit=200
        )
        assert total == pytest.approx(1.0, abs=2e-3)
        med = mp_quantile(0.5, Q)
        half, _ = scipy.integrate.quad(
            lambda x, Q=Q: mp_density(np.array([x]), Q)[0], mp_edges(Q)[0], med, limit=200
        )
        assert half == pytest.approx(0.5, abs=2e-3)


def test_mp_fit_methods():
    ev = np.random.default_rng(0).gamma(2.0, 0.5, size=400)
    top = fit_marchenko_pastur(ev, 3.0, "max")
    assert top.lambda_plus == pytest.approx(ev.max()) and top.num_spikes == 0  # DDP's plotting choice
    assert fit_marchenko_pastur(ev, 3.0, "mean").sigma2 == pytest.approx(ev.mean())
    with pytest.raises(UnknownOptionError, match="unknown MP fit method .*use one of median, mean, max"):
        fit_marchenko_pastur(ev, 3.0, "mode")


def _powerlaw_alpha_at(x: np.ndarray, xmin: float) -> tuple[float, float]:
    """The `powerlaw` package's α and KS distance D with x_min fixed. powerlaw >= 2 caps α at 3 by
    default (ENVIRONMENT.md), so lift the cap; 1.x had no cap."""
    import powerlaw

    major = int(importlib.metadata.version("powerlaw").split(".")[0])
    kwargs = {"parameter_ranges": {"alpha": [0, 1000]}} if major >= 2 else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(x, xmin=xmin, verbose=False, **kwargs)
    return float(fit.power_law.alpha), float(fit.power_law.D)


@pytest.mark.parametrize("alpha,seed", [(2.5, 0), (3.5, 1), (5.0, 2)])
def test_power_law_alpha_matches_truth_and_the_powerlaw_package(alpha, seed):
    x = sample_power_law(alpha, 20000, xmin=0.5, rng=np.random.default_rng(seed))
    fit = fit_power_law(x)
    assert abs(fit.alpha - alpha) <= 0.1
    assert fit.xmin >= 0.5 and fit.n_tail == int(np.sum(x >= fit.xmin))
    assert fit.sigma == pytest.approx((fit.alpha - 1) / math.sqrt(fit.n_tail))
    ref_alpha, ref_d = _powerlaw_alpha_at(x, fit.xmin)
    assert abs(fit.alpha - ref_alpha) <= 0.05
    assert fit.ks_distance == pytest.approx(ref_d, abs=1e-6)


def test_power_law_with_fixed_xmin_matches_the_powerlaw_package():
    x = sample_power_law(3.0, 5000, rng=np.random.default_rng(3)) * np.random.default_rng(4).uniform(
        0.9, 1.1, 5000
    )
    fit = fit_power_law(x, xmin=2.0)
    ref_alpha, ref_d = _powerlaw_alpha_at(x, 2.0)
    assert fit.xmin == 2.0
    assert fit.alpha == pytest.approx(ref_alpha, abs=1e-6)
    assert fit.ks_distance == pytest.approx(ref_d, abs=1e-6)


def test_power_law_on_too_few_values_is_nan_not_an_error():
    assert math.isnan(fit_power_law(np.array([1.0, 2.0, 3.0])).alpha)
    assert math.isnan(fit_power_law(np.zeros(50)).alpha)  # non-positive values carry no tail
    flat = fit_power_law(np.full(64, 0.25))  # e.g. an orthogonal layer: all eigenvalues equal
    assert math.isnan(flat.alpha) and math.isnan(flat.ks_distance) and "all equal" in flat.note
