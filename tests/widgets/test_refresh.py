"""The explorer's refresh: after the weights change, every view redraws from the current weights (issue 9)."""

from __future__ import annotations

import numpy as np
import torch
from conftest import N_IMAGES, tiny_cnn

import ddp_widgets as dw
from ddp_widgets.widgets import Explorer


def test_refresh_redraws_from_the_current_weights_and_flags_the_profile():
    model = tiny_cnn()
    analysis = dw.SpectralAnalysis(model, torch.zeros(1, 1, 12, 12))
    images = torch.rand(N_IMAGES, 1, 12, 12)
    labels = torch.arange(N_IMAGES) % 3
    profile = dw.Profiler(analysis).profile(images, labels, progress=False)
    ex = Explorer(analysis, profile=profile, images=images, labels=labels, title="tiny")
    try:
        layer = ex.selection.layer
        before = np.asarray(ex.spectrum.points.y, np.float64).copy()
        saved = analysis.module(layer).weight.detach().clone()
        with torch.no_grad():
            analysis.module(layer).weight.mul_(10)  # e.g. training steps in the notebook
        ex.refresh()
        after = np.asarray(ex.spectrum.points.y, np.float64)
        np.testing.assert_allclose(after, 10 * before, rtol=1e-5)
        np.testing.assert_allclose(after, analysis.values(layer).double().numpy(), rtol=1e-5)
        assert "profile describes earlier weights" in ex.status.value
        with torch.no_grad():
            analysis.module(layer).weight.copy_(saved)
        ex.refresh()  # the profile's weights again: no warning left
        assert "profile describes earlier weights" not in ex.status.value
        assert ex.refresh_button.description == "refresh"
    finally:
        ex.close()
