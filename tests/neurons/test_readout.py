"""Weight-space class readout: the last layer's own algebra, linear chains, and the refusal of non-linear
paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ddp_widgets as dw
from ddp_widgets import neurons
from ddp_widgets.core import decompose
from ddp_widgets.core.errors import NotLinearToLogitsError
from ddp_widgets.core.readout import class_readout

from .neuron_helpers import hook_count, modes


def test_last_layer_readout_is_its_own_weight_algebra(default_profiler, default_data):
    """logits = b + U s for the last layer, so ∂logit_c/∂s_α = U[c, α]."""
    prof = default_profiler
    df = neurons.readout(prof, "classifier.3", class_names=default_data.class_names)
    svd = prof.analysis.svd("classifier.3")
    u = svd.projection().T.double().numpy()  # (classes, R): column α is u_α
    r = df[list(default_data.class_names)].to_numpy().T
    np.testing.assert_allclose(r, u, atol=1e-5)
    np.testing.assert_allclose(df["sigma"], svd.values.double().numpy())
    # and it predicts the logits from the signals: logits − b = readout · s
    x = default_data.images[:16]
    s = prof.signals(x, "mean", ["classifier.3"])["classifier.3"].double()
    with torch.no_grad():
        logits = prof.model(x).double()
    bias = prof.analysis.module("classifier.3").bias.double()
    torch.testing.assert_close(logits - bias, s @ torch.from_numpy(r).T, atol=1e-5, rtol=1e-5)


def test_a_linear_chain_reads_out_through_every_weight():
    torch.manual_seed(0)
    first, second = nn.Linear(8, 6), nn.Linear(6, 4)
    model = nn.Sequential(nn.Flatten(), first, nn.Dropout(0.3), nn.Identity(), second).double()
    model.train()  # the readout is of the eval model: Dropout is the identity there
    before = modes(model)
    x = torch.randn(1, 2, 4, dtype=torch.float64)
    svd = decompose(first, dtype=torch.float64)
    r = class_readout(model, first, svd, x)
    expect = second.weight.detach() @ svd.projection().T
    torch.testing.assert_close(r, expect, atol=1e-10, rtol=0)
    assert modes(model) == before and hook_count(model) == 0
    # finite differences of the eval model along u_α agree
    model.eval()
    h = first(x.flatten(1))
    for a in (0, 3):
        shifted = second(h + svd.left_vector(a)) - second(h)
        torch.testing.assert_close(shifted[0], r[:, a], atol=1e-10, rtol=0)


def test_default_classifier0_is_refused_because_of_its_relu(default_profiler):
    with pytest.raises(NotLinearToLogitsError, match=r"'classifier.1' \(ReLU\)"):
        neurons.readout(default_profiler, "classifier.0")
    assert hook_count(default_profiler.model) == 0


class HiddenRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(5, 5), nn.Linear(5, 3)

    def forward(self, x):
        return self.b(F.relu(self.a(x)))  # a functional non-linearity no module list shows


def test_a_functional_nonlinearity_is_caught_numerically():
    torch.manual_seed(1)
    model = HiddenRelu()
    prof = dw.Profiler(model, example_input=torch.randn(1, 5))
    with pytest.raises(NotLinearToLogitsError, match="non-linear"):
        neurons.readout(prof, "a")
    assert hook_count(model) == 0
    # the last layer itself is fine
    df = neurons.readout(prof, "b")
    np.testing.assert_allclose(
        df[["0", "1", "2"]].to_numpy().T, prof.analysis.svd("b").projection().T.double(), atol=1e-6
    )


def test_conv_layers_are_refused(default_profiler):
    with pytest.raises(NotLinearToLogitsError, match="Linear layers"):
        neurons.readout(default_profiler, "features.7")
