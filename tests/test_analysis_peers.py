"""Peer test: under convention="ww" every column named like one of WeightWatcher 0.7.7's holds its value.

Skipped when weightwatcher is not installed (`make bench` installs it with the bench extra).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import warnings

import numpy as np
import pytest
import torch
import torchvision

from ddp_widgets import SpectralAnalysis
from ddp_widgets.zoo import load_default_model

# the columns WeightWatcher's default analyze() shares with our metrics() by name
SHARED = (
    "N",
    "M",
    "Q",
    "num_evals",
    "sv_max",
    "sv_min",
    "norm",
    "log_norm",
    "lambda_max",
    "spectral_norm",
    "log_spectral_norm",
    "stable_rank",
    "alpha",
    "alpha_weighted",
    "log_alpha_norm",
    "xmin",
    "xmax",
    "warning",
)


def weightwatcher_frame(model: torch.nn.Module):
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        ww = pytest.importorskip("weightwatcher")
        if ww.__version__ != "0.7.7":
            pytest.skip(f"the peer numbers are WeightWatcher 0.7.7's; {ww.__version__} is installed")
        logging.getLogger("weightwatcher").setLevel(logging.ERROR)
        return ww.WeightWatcher(model=model).analyze().set_index("longname")


def resnet18() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture(scope="module", params=["default", pytest.param("resnet18", marks=pytest.mark.slow)])
def pair(request):
    model = load_default_model() if request.param == "default" else resnet18()
    theirs = weightwatcher_frame(model)
    ours = SpectralAnalysis(model, convention="ww", progress=False).metrics().set_index("layer")
    return theirs, ours


def test_same_layers_as_weightwatcher(pair):
    theirs, ours = pair
    assert sorted(theirs.index) == sorted(ours.index)


def test_every_shared_column_within_1e_6_relative(pair):
    theirs, ours = pair
    worst = 0.0
    for layer in theirs.index:
        for col in SHARED:
            a, b = ours.loc[layer, col], theirs.loc[layer, col]
            if isinstance(b, str):
                assert a == b, (layer, col, a, b)
                continue
            rel = abs(float(a) - float(b)) / max(abs(float(b)), 1e-300)
            worst = max(worst, rel)
            assert rel <= 1e-6, f"{layer} {col}: ours {a!r}, WeightWatcher {b!r}"
    assert worst < 1e-6


def test_alpha_within_0_01_on_layers_with_at_least_20_eigenvalues(pair):
    theirs, ours = pair
    big = [layer for layer in theirs.index if theirs.loc[layer, "num_evals"] >= 20]
    assert big
    diffs = [abs(ours.loc[layer, "alpha"] - theirs.loc[layer, "alpha"]) for layer in big]
    assert max(diffs) <= 0.01 and all(math.isfinite(d) for d in diffs)


def test_default_convention_full_scan_matches_on_the_same_data():
    """The issue's example: layer4.0.conv2's pooled slices (4608 eigenvalues) need the full x_min scan."""
    model = resnet18()
    theirs = weightwatcher_frame(model)
    sa = SpectralAnalysis(model, convention="ww", progress=False)
    spec = sa.spectrum("layer4.0.conv2")
    assert spec.eigenvalues.size == 4608 and spec.power_law.scanned == spec.power_law.candidates
    assert spec.power_law.alpha == pytest.approx(theirs.loc["layer4.0.conv2", "alpha"], rel=1e-9)
    np.testing.assert_allclose(spec.power_law.ks_distance, theirs.loc["layer4.0.conv2", "D"], rtol=1e-9)
