"""SpectralAnalysis on the embedded trained default model (ddp_widgets.zoo): a trained network's
spectra differ from their random baselines, and every view works on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ddp_widgets import SpectralAnalysis
from ddp_widgets.core import operator_singular_values, slice_singular_values
from ddp_widgets.zoo import load_default_model

LAYERS = ["features.0", "features.2", "features.5", "features.7", "classifier.0", "classifier.3"]


@pytest.fixture(scope="module")
def sa() -> SpectralAnalysis:
    return SpectralAnalysis(load_default_model(), progress=False)


def test_metrics_of_the_default_model(sa):
    df = sa.metrics()
    assert df["layer"].tolist() == LAYERS
    assert df[["alpha", "mp_sigma2", "stable_rank", "sv_max"]].notna().all().all()


def test_trained_layers_differ_from_their_permuted_baseline(sa):
    df = sa.compare("permuted").set_index("layer")
    # training leaves spikes above the MP bulk and a heavier tail (smaller α) that permuting destroys
    differs = df[df["more_spikes"] & df["heavier_tail"]]
    assert len(differs) >= 1
    assert (df["num_spikes"] - df["num_spikes_baseline"]).max() >= 5
    assert (df["alpha_baseline"] - df["alpha"]).max() >= 1.0
    assert df["differs"].any()


def test_random_weights_do_not_look_trained():
    """The criterion is not a coin flip: an untrained network barely differs from its permuted weights."""
    import torchvision

    torch.manual_seed(0)
    random_sa = SpectralAnalysis(torchvision.models.resnet18(weights=None), progress=False)
    assert random_sa.compare("permuted")["differs"].sum() <= 1  # of 21 layers
    assert (
        SpectralAnalysis(load_default_model(), progress=False).compare("permuted")["differs"].sum() >= 3
    )  # of 6


def test_trained_layers_differ_from_random_init(sa):
    df = sa.compare("random-init").set_index("layer")
    assert (df["more_spikes"] & df["heavier_tail"]).any()
    assert (df["num_spikes"] > df["num_spikes_baseline"]).sum() >= 3


@pytest.mark.parametrize(
    "name,size", [("features.0", 28), ("features.2", 28), ("features.5", 14), ("features.7", 14)]
)
def test_slices_and_operator_views_on_the_default_model(sa, name, size):
    conv = sa.module(name)
    d, c = conv.weight.shape[:2]
    slices = sa.spectrum(name, view="slices")
    assert slices.singular_values.shape == (9 * min(d, c),)
    np.testing.assert_allclose(
        slices.singular_values, np.sort(slice_singular_values(conv.weight)[0].numpy())[::-1], rtol=1e-6
    )
    assert np.isfinite(slices.mp.sigma2)

    assert sa.input_size(name) == (size, size)  # from the probe pass on a 28×28 image
    op = sa.spectrum(name, view="operator")
    assert op.singular_values.shape == (size * size * min(d, c),)
    np.testing.assert_allclose(op.singular_values, operator_singular_values(conv, size).values, rtol=1e-6)
    assert not op.exact and "zeros padding" in op.note  # the default model pads with zeros
    # every view gives a finite power-law fit
    assert np.isfinite(op.power_law.alpha) and np.isfinite(sa.spectrum(name).power_law.alpha)


def test_default_model_metrics_never_form_u_or_v(monkeypatch):
    calls = []
    real = torch.linalg.svd
    monkeypatch.setattr(torch.linalg, "svd", lambda *a, **k: calls.append(1) or real(*a, **k))
    sa = SpectralAnalysis(load_default_model(), progress=False)
    sa.metrics()
    assert calls == [] and sa.computed["svd"] == 0
