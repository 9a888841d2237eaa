"""LayerSVD: lazy factors, reconstruction, best rank-r truncation (Eckart–Young), singular filters,
grouped bookkeeping, dtypes and the values-only fast path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ddp_widgets.core import LayerSVD, decompose, singular_values, unfold_weight


@pytest.fixture
def svd_calls(monkeypatch):
    """Count calls of torch.linalg.svd (the only way U and V get formed)."""
    calls = []
    real = torch.linalg.svd

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.linalg, "svd", counting)
    return calls


def test_factors_are_computed_lazily_once(svd_calls):
    conv = nn.Conv2d(6, 8, 3, groups=2)
    svd = decompose(conv)
    assert isinstance(svd, LayerSVD) and not svd.has_vectors and svd_calls == []
    assert svd.values.shape == (2 * 8 // 2,)
    _ = svd.U
    assert svd.has_vectors and len(svd_calls) == 1
    _ = (svd.Vh, svd.singular_filter(0), svd.reconstruct(), svd.projection())
    assert len(svd_calls) == 1  # cached
    values = decompose(conv, values_only=True)
    assert isinstance(values, torch.Tensor) and len(svd_calls) == 1  # the fast path never forms U, V


@pytest.mark.parametrize(
    "layer",
    [
        nn.Conv2d(5, 7, 3),
        nn.Conv2d(6, 9, (2, 3), groups=3),
        nn.Conv2d(3, 64, 3),
        nn.Linear(9, 4),
        nn.Conv1d(4, 4, 5, groups=4),
        nn.ConvTranspose2d(4, 6, 3, groups=2),
    ],
    ids=["conv", "grouped", "tall", "linear", "depthwise1d", "transposed"],
)
def test_reconstruct_and_eckart_young_truncation(layer):
    layer = layer.double()
    w = layer.weight.detach()
    svd = decompose(layer, dtype=torch.float64)
    torch.testing.assert_close(svd.reconstruct(), w, rtol=1e-10, atol=1e-10)
    s = svd.values
    for r in range(svd.rank + 1):
        approx = svd.truncate(r)
        assert approx.shape == w.shape
        err = torch.linalg.norm((w - approx).reshape(-1))
        assert float(err) == pytest.approx(math.sqrt(float((s[r:] ** 2).sum())), abs=1e-10)
        # the truncation has rank r as an operator (blocks are independent for grouped layers)
        blocks = unfold_weight(approx, svd.groups)
        assert int(sum(torch.linalg.matrix_rank(b, atol=1e-9) for b in blocks)) == r
    # and it is *the* best rank-r approximation: numpy's U_r Σ_r V_rᵀ for a single block
    if svd.groups == 1:
        r = max(1, svd.rank // 2)
        u, sn, vt = np.linalg.svd(w.reshape(w.shape[0], -1).numpy(), full_matrices=False)
        best = (u[:, :r] * sn[:r]) @ vt[:r]
        np.testing.assert_allclose(svd.truncate(r).reshape(w.shape[0], -1).numpy(), best, atol=1e-10)


def test_singular_filter_shapes_and_group_bookkeeping():
    conv = nn.Conv2d(8, 12, 3, groups=4)  # weight (12, 2, 3, 3): 4 blocks of 3 × 18
    svd = decompose(conv, dtype=torch.float64)
    assert svd.shape == (3, 18) and svd.groups == 4 and svd.rank == 12
    assert svd.filter_shape == (2, 3, 3)
    assert svd.singular_filter(0).shape == (2, 3, 3)
    assert svd.singular_filters().shape == (12, 2, 3, 3) and svd.singular_filters(5).shape == (5, 2, 3, 3)
    assert sorted(svd.group_of.tolist()) == sorted([0, 1, 2, 3] * 3)
    assert torch.all(svd.values[:-1] >= svd.values[1:])
    for a in range(svd.rank):
        g, j = int(svd.group_of[a]), int(svd.index_in_group[a])
        u = svd.left_vector(a)
        assert (
            u.shape == (12,)
            and torch.count_nonzero(u[: 3 * g]) == 0
            and torch.count_nonzero(u[3 * (g + 1) :]) == 0
        )
        block = svd.matrix[g]  # the filter is the right singular vector of its own group's block
        torch.testing.assert_close(block @ svd.right_vector(a), svd.values[a] * u[3 * g : 3 * (g + 1)])
        assert j < 3
    assert decompose(nn.Linear(5, 3)).singular_filter(0).shape == (5,)
    with pytest.raises(IndexError, match="SVD neuron 12 out of range"):
        svd.singular_filter(12)


def test_signs_are_deterministic():
    conv = nn.Conv2d(4, 6, 3)
    a, b = decompose(conv), decompose(conv)
    torch.testing.assert_close(a.U, b.U)
    idx = a.U.abs().argmax(dim=1)  # the largest-magnitude entry of each left vector is positive
    assert torch.all(torch.gather(a.U, 1, idx.unsqueeze(1)) > 0)


def test_dtypes_and_tall_orientation():
    torch.manual_seed(0)
    w = torch.randn(16, 300, dtype=torch.float64)  # wide: transposed to tall internally
    s32 = decompose(w, values_only=True)
    s64 = decompose(w, values_only=True, dtype=torch.float64)
    assert s32.dtype == torch.float32 and s64.dtype == torch.float64 and s32.shape == (16,)
    ref = np.linalg.svd(w.numpy(), compute_uv=False)
    np.testing.assert_allclose(s64.numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(s32.double().numpy(), ref, rtol=1e-5)
    assert decompose(w, dtype=torch.float64).U.dtype == torch.float64


def test_batched_and_looped_singular_values_agree():
    torch.manual_seed(0)
    mats = [torch.randn(2, 6, 20), torch.randn(1, 6, 20), torch.randn(1, 20, 6), torch.randn(3, 4, 4)]
    looped = singular_values(mats, batch=False)
    batched = singular_values(mats, batch=True)
    for m, a, b in zip(mats, looped, batched):
        assert a.shape == (m.shape[0], min(m.shape[1:]))
        torch.testing.assert_close(a, b)
