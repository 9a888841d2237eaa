"""Spatial maps of SVD neurons: their mean is the profile's signal, a known pattern peaks where it is put."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ddp_widgets as dw
from ddp_widgets import neurons
from ddp_widgets.core import InputShapeError, LayerNotDecomposableError
from ddp_widgets.core.errors import NeuronIndexError
from ddp_widgets.core.maps import upsample_maps

from .neuron_helpers import hook_count, modes

CONV_LAYERS = ["features.0", "features.2", "features.5", "features.7"]


@pytest.mark.parametrize("layer", CONV_LAYERS)
def test_spatial_mean_is_the_mean_aggregated_signal(default_profiler, default_data, layer):
    x = default_data.images[:6]
    signal = default_profiler.signals(x, "mean", [layer])[layer]  # (6, R)
    for alpha in (0, 3, signal.shape[1] - 1):
        native = neurons.maps(default_profiler, layer, alpha, x, upsample=None)
        torch.testing.assert_close(native.mean((1, 2)), signal[:, alpha], atol=1e-5, rtol=1e-5)
        nearest = neurons.maps(default_profiler, layer, alpha, x, upsample="nearest")
        assert nearest.shape == (6, 28, 28)  # integer factors: nearest upsampling keeps the mean
        torch.testing.assert_close(nearest.mean((1, 2)), signal[:, alpha], atol=1e-5, rtol=1e-5)


def test_maps_are_the_per_position_projection(default_profiler, default_data):
    x = default_data.images[:3]
    full = default_profiler.projections(x, "features.5")  # (3, R, 14, 14)
    torch.testing.assert_close(neurons.maps(default_profiler, "features.5", 2, x, upsample=None), full[:, 2])
    smooth = neurons.maps(default_profiler, "features.5", 2, x)
    assert smooth.shape == (3, 28, 28) and smooth.dtype == torch.float32
    assert neurons.maps(default_profiler, "features.5", 2, x[0]).shape == (1, 28, 28)  # one image
    assert neurons.maps(default_profiler.analysis, "features.5", 2, x, size=(56, 56)).shape == (3, 56, 56)


def test_the_singular_filter_painted_somewhere_peaks_there(default_profiler):
    """In a zero image, the patch equal to v_α maximises σ_α⟨v_α, patch⟩ (Cauchy–Schwarz), so the map of
    features.0's neuron α peaks exactly at the centre of the painted filter."""
    svd = default_profiler.analysis.svd("features.0")
    for alpha, (r, c) in [(0, (20, 7)), (1, (5, 22)), (2, (13, 13))]:
        image = torch.zeros(1, 1, 28, 28)
        image[0, 0, r - 1 : r + 2, c - 1 : c + 2] = svd.singular_filter(alpha)[0]
        m = neurons.maps(default_profiler, "features.0", alpha, image)[0]
        assert divmod(int(m.argmax()), 28) == (r, c)
        assert float(m.max()) == pytest.approx(float(svd.values[alpha]), rel=1e-4)  # σ_α ‖v_α‖² = σ_α


def test_a_strided_layer_peaks_within_a_pixel_after_upsampling():
    conv = nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)  # one SVD neuron: the sum over each 3x3 patch
    model = nn.Sequential(conv, nn.ReLU())
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 15:18, 7:10] = 1.0  # a bright square centred at (16, 8), the centre of output position (8, 4)
    prof = dw.Profiler(model, example_input=image)
    native = neurons.maps(prof, "0", 0, image, upsample=None)[0]
    assert native.shape == (14, 14) and divmod(int(native.argmax()), 14) == (8, 4)
    up = neurons.maps(prof, "0", 0, image)[0]
    r, c = divmod(int(up.argmax()), 28)
    assert abs(r - 16) <= 1 and abs(c - 8) <= 1


def test_model_left_as_found_and_clear_errors(default_profiler, default_data):
    model = default_profiler.model
    model.train()
    try:
        before = modes(model)
        neurons.maps(default_profiler, "features.2", 0, default_data.images[:2])
        assert modes(model) == before and hook_count(model) == 0
        with pytest.raises(InputShapeError, match="failed"):
            neurons.maps(default_profiler, "features.2", 0, torch.zeros(2, 3, 28, 28))
        assert modes(model) == before and hook_count(model) == 0
    finally:
        model.eval()
    with pytest.raises(LayerNotDecomposableError, match="Linear"):
        neurons.maps(default_profiler, "classifier.0", 0, default_data.images[:2])
    with pytest.raises(NeuronIndexError, match="32 SVD neurons"):
        neurons.maps(default_profiler, "features.2", 32, default_data.images[:2])
    with pytest.raises(NeuronIndexError, match="integer"):
        neurons.maps(default_profiler, "features.2", 0.5, default_data.images[:2])
    with pytest.raises(ValueError, match="unknown upsampling"):
        upsample_maps(torch.zeros(1, 4, 4), (8, 8), "cubic")
