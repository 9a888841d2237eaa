"""Sweep torchvision classification architectures (weights=None, offline): every Conv/Linear layer is
listed and decomposed, and its singular values match numpy's SVD of the unfolded weight.

The unfolding for the oracle is done here in numpy (W.reshape(g, d/g, -1)), independently of
`unfold_weight`. Singular values are compared in float32 against numpy's float64 SVD, per group for
grouped/depthwise convolutions: max|s - s_np| / max(s_np) <= 1e-4 per layer.

numpy's (OpenBLAS) SVD of the three 4096-wide classifier layers of VGG/AlexNet alone takes minutes
on the CI box, so layers above GIANT entries are decomposed by us and checked against exact identities
instead (Σσ² = ‖W‖_F², lower bounds on σ_max); every other layer gets the numpy oracle.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from ddp_widgets.core import decompose, list_layers

GIANT = 5_000_000  # entries of one group's matrix
REL_TOL = 1e-4

SLOW = pytest.mark.slow
ARCHITECTURES = [
    # dense
    "resnet18",
    pytest.param("vgg11", marks=SLOW),  # VGG's 25088×4096 classifier dominates (~15 s)
    pytest.param("alexnet", marks=SLOW),
    "squeezenet1_0",
    "squeezenet1_1",
    # grouped / depthwise
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "shufflenet_v2_x0_5",
    "regnet_x_400mf",
    "regnet_y_400mf",
    pytest.param("convnext_tiny", marks=SLOW),
    "efficientnet_b0",
    "mnasnet0_5",
    # branching
    "googlenet",
    "densenet121",
]
assert len(ARCHITECTURES) >= 15

CONV_OR_LINEAR = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
)


def build(name: str) -> nn.Module:
    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    return torchvision.models.get_model(name, weights=None, **kwargs).eval()


def numpy_singular_values(weight: torch.Tensor, groups: int) -> np.ndarray:
    w = weight.detach().cpu().numpy().astype(np.float64)
    blocks = w.reshape(groups, w.shape[0] // groups, -1)
    return np.sort(np.linalg.svd(blocks, compute_uv=False).ravel())[::-1]  # one SVD per group


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_weighted_layer_is_listed_and_matches_numpy(arch):
    model = build(arch)
    layers = list_layers(model, torch.zeros(1, 3, 64, 64))
    assert layers.probe_error is None

    # listed: every Conv/Linear module is decomposable; anything else listed carries a reason
    expected = [n for n, m in model.named_modules() if isinstance(m, CONV_OR_LINEAR)]
    assert set(expected) <= set(layers.decomposable.names)
    assert all(info.reason for info in layers if not info.decomposable)
    assert len(set(layers.names)) == len(layers.names)
    # the probe pass saw every layer; the list is in forward order
    orders = [info.order for info in layers]
    assert None not in orders and orders == sorted(set(orders))
    assert all(info.calls >= 1 and info.output_shape is not None for info in layers.decomposable)

    modules = dict(model.named_modules())
    checked = 0
    for info in layers.decomposable:
        module = modules[info.name]
        ours = decompose(module, values_only=True)
        assert ours.dtype == torch.float32
        s = ours.double().numpy()
        g = info.groups
        rows, cols = module.weight.shape[0] // g, math.prod(module.weight.shape[1:])
        assert s.shape == (g * min(rows, cols),) == (info.rank_bound,), info.name
        assert np.all(np.diff(s) <= 0) and s[-1] >= 0, info.name
        if rows * cols <= GIANT:
            ref = numpy_singular_values(module.weight, g)
            err = np.max(np.abs(s - ref)) / ref.max()
            assert err <= REL_TOL, f"{arch} {info.name}: relative error {err:.2e}"
            checked += 1
        else:
            w = module.weight.detach().double().reshape(rows, cols)
            fro2 = float((w**2).sum())
            assert abs(float(np.sum(s**2)) - fro2) <= REL_TOL * fro2, info.name
            # the spectral norm is at least the largest row/column norm and ‖W x‖ for any unit x
            x = torch.randn(cols, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
            lower = max(
                float(w.norm(dim=1).max()), float(w.norm(dim=0).max()), float((w @ x).norm() / x.norm())
            )
            assert s[0] >= lower * (1 - REL_TOL), info.name
    assert checked >= 0.6 * len(layers.decomposable)
