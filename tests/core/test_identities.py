"""PAPER §1 identities on many conv configurations, checked numerically in float64.

W̄ · unfold(x) = conv(x) − b   and   Uᵀ (conv(x) − b) = Σ Vᵀ unfold(x),  per group for grouped convs.

`im2col` below is an independent N-d unfolding (validated against F.unfold in 2-D), so Conv1d and
Conv3d are covered too.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ddp_widgets.core import LayerSVD, decompose, unfold_weight


def im2col(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(n, c·prod(k), positions) in C order (ci, k1, k2, ...), the column order of F.unfold."""
    k, s, d = conv.kernel_size, conv.stride, conv.dilation
    dims = len(k)
    pad = conv._reversed_padding_repeated_twice  # what the conv itself pads with (handles "same")
    mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
    x = F.pad(x, list(pad), mode=mode)
    for i in range(dims):
        x = x.unfold(2 + i, (k[i] - 1) * d[i] + 1, s[i])  # window dims are appended at the end
    x = x[(Ellipsis, *[slice(None, None, di) for di in d])]  # (n, c, out..., k...)
    n, c = x.shape[:2]
    positions = math.prod(x.shape[2 : 2 + dims])
    x = x.permute(0, 1, *range(2 + dims, 2 + 2 * dims), *range(2, 2 + dims))
    return x.reshape(n, c * math.prod(k), positions)


CONFIGS = [
    ("plain", lambda: nn.Conv2d(4, 6, 3), (2, 4, 7, 7)),
    ("stride+padding", lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1), (2, 4, 9, 8)),
    (
        "non-square+dilation",
        lambda: nn.Conv2d(4, 6, (2, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
        (2, 4, 9, 8),
    ),
    ("groups+dilation", lambda: nn.Conv2d(6, 9, 3, groups=3, padding=2, dilation=2), (2, 6, 8, 8)),
    ("depthwise", lambda: nn.Conv2d(8, 8, 3, groups=8, padding=1), (2, 8, 6, 6)),
    ("depthwise-multiplier", lambda: nn.Conv2d(4, 8, 3, groups=4), (2, 4, 6, 6)),
    ("pointwise-no-bias", lambda: nn.Conv2d(8, 16, 1, bias=False), (2, 8, 5, 5)),
    ("more-filters-than-patch", lambda: nn.Conv2d(3, 64, 3, padding=1), (1, 3, 6, 6)),
    ("same-even-kernel", lambda: nn.Conv2d(3, 5, 4, padding="same"), (2, 3, 7, 7)),
    ("circular", lambda: nn.Conv2d(3, 5, 3, padding=1, padding_mode="circular"), (2, 3, 6, 6)),
    ("reflect", lambda: nn.Conv2d(3, 5, (3, 5), padding=(1, 2), padding_mode="reflect"), (2, 3, 6, 7)),
    ("conv1d", lambda: nn.Conv1d(3, 5, 4, stride=2, padding=1), (2, 3, 17)),
    ("conv1d-groups", lambda: nn.Conv1d(4, 6, 3, groups=2, dilation=2), (2, 4, 15)),
    ("conv3d", lambda: nn.Conv3d(2, 4, (2, 3, 3), stride=(1, 2, 1), padding=1), (2, 2, 4, 6, 5)),
    ("conv3d-groups", lambda: nn.Conv3d(4, 6, 3, groups=2, dilation=(1, 2, 1)), (1, 4, 4, 6, 4)),
]


def make(factory, shape):
    torch.manual_seed(0)
    conv = factory().double()
    if conv.bias is not None:
        nn.init.normal_(conv.bias)  # a non-zero bias, so forgetting to subtract it fails
    x = torch.randn(*shape, dtype=torch.float64)
    return conv, x


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("label,factory,shape", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_unfolded_weight_times_unfolded_input_is_conv_minus_bias(label, factory, shape):
    conv, x = make(factory, shape)
    g = conv.groups
    with torch.no_grad():
        y = conv(x)
    b = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels, dtype=x.dtype)
    y = (y - b.view(1, -1, *[1] * (y.dim() - 2))).reshape(y.shape[0], y.shape[1], -1)  # [n, d, positions]
    cols = im2col(conv, x)  # [n, c·k, positions]
    wbar = unfold_weight(conv)  # [g, d/g, c/g·k]
    assert wbar.shape == (g, conv.out_channels // g, conv.in_channels // g * math.prod(conv.kernel_size))
    cg = cols.shape[1] // g
    dg = conv.out_channels // g
    for gi in range(g):
        lhs = wbar[gi] @ cols[:, gi * cg : (gi + 1) * cg]
        torch.testing.assert_close(lhs, y[:, gi * dg : (gi + 1) * dg], rtol=1e-10, atol=1e-10)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("label,factory,shape", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_projection_onto_left_vectors_is_sigma_times_right_vectors_times_patches(label, factory, shape):
    conv, x = make(factory, shape)
    g = conv.groups
    svd = decompose(conv, dtype=torch.float64)
    assert isinstance(svd, LayerSVD) and svd.groups == g
    with torch.no_grad():
        y = conv(x)
    b = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels, dtype=x.dtype)
    y = (y - b.view(1, -1, *[1] * (y.dim() - 2))).reshape(y.shape[0], y.shape[1], -1)
    cols = im2col(conv, x)
    cg, dg = cols.shape[1] // g, conv.out_channels // g
    # per-group singular values from the flat descending list and its (group, index) bookkeeping
    sigma = torch.zeros(g, min(svd.shape), dtype=torch.float64)
    sigma[svd.group_of, svd.index_in_group] = svd.values
    for gi in range(g):
        lhs = svd.U[gi].T @ y[:, gi * dg : (gi + 1) * dg]  # Uᵀ(conv(x) − b)
        rhs = sigma[gi].unsqueeze(1) * (svd.Vh[gi] @ cols[:, gi * cg : (gi + 1) * cg])  # Σ Vᵀ unfold(x)
        torch.testing.assert_close(lhs, rhs, rtol=1e-9, atol=1e-9)
    # the same through the block-diagonal projection, in descending σ order across groups
    signals = svd.projection() @ y  # [n, R, positions]
    patches = torch.stack([cols[:, int(gi) * cg : (int(gi) + 1) * cg] for gi in svd.group_of], dim=1)
    vs = torch.stack([svd.right_vector(a) for a in range(svd.rank)])  # [R, c/g·k]
    rhs = svd.values.view(1, -1, 1) * torch.einsum("rk,nrkp->nrp", vs, patches)
    torch.testing.assert_close(signals, rhs, rtol=1e-9, atol=1e-9)


def test_im2col_oracle_agrees_with_torch_unfold():
    conv = nn.Conv2d(3, 4, (2, 3), stride=(1, 2), padding=(1, 0), dilation=(2, 1))
    x = torch.randn(2, 3, 9, 10)
    ref = F.unfold(x, conv.kernel_size, dilation=conv.dilation, padding=conv.padding, stride=conv.stride)
    torch.testing.assert_close(im2col(conv, x), ref)


def test_linear_layer_is_its_own_unfolding():
    lin = nn.Linear(7, 5).double()
    x = torch.randn(3, 7, dtype=torch.float64)
    svd = decompose(lin, dtype=torch.float64)
    assert svd.shape == (5, 7) and svd.filter_shape == (7,)
    torch.testing.assert_close(svd.U[0].T @ (lin(x) - lin.bias).T, torch.diag(svd.values) @ svd.Vh[0] @ x.T)


# ---------------------------------------------------------------------------------- ConvTranspose
# ConvTranspose weights are stored (c_in, c_out/g, k...). decompose() unfolds them with one row per
# *input* channel: W̄ is the unfolding of the adjoint convolution (a Conv from c_out to c_in channels
# with the same weight), and its singular values are those of the transposed-convolution operator's
# per-position block.

TRANSPOSED = [
    ("2d", lambda: nn.ConvTranspose2d(4, 6, 2, stride=2), 3),
    ("2d-groups", lambda: nn.ConvTranspose2d(6, 4, 2, stride=2, groups=2), 3),
    ("1d", lambda: nn.ConvTranspose1d(3, 5, 3, stride=3), 4),
    ("3d", lambda: nn.ConvTranspose3d(2, 3, 2, stride=2), 2),
]


@pytest.mark.parametrize("label,factory,n", TRANSPOSED, ids=[t[0] for t in TRANSPOSED])
def test_conv_transpose_unfolding_rows_are_input_channels(label, factory, n):
    torch.manual_seed(0)
    convt = factory().double()
    g, k = convt.groups, convt.kernel_size
    svd = decompose(convt, dtype=torch.float64)
    assert svd.transposed
    assert svd.shape == (convt.in_channels // g, convt.out_channels // g * math.prod(k))
    assert svd.singular_filter(0).shape == (convt.out_channels // g, *k)

    # W̄ is the unfolding of the adjoint convolution: W̄ · unfold(z) = conv(z; W), and
    # <conv_transpose(y), z> = <y, conv(z)>
    dims = len(k)
    conv_fn = (F.conv1d, F.conv2d, F.conv3d)[dims - 1]
    tconv_fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[dims - 1]
    y = torch.randn(2, convt.in_channels, *[n] * dims, dtype=torch.float64)
    z = torch.randn(2, convt.out_channels, *[n * s for s in convt.stride], dtype=torch.float64)
    adj = conv_fn(z, convt.weight, stride=convt.stride, groups=g)  # [n, c_in, n...]
    lhs = (tconv_fn(y, convt.weight, stride=convt.stride, groups=g) * z).sum()
    torch.testing.assert_close(lhs, (y * adj).sum())
    adjoint_conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1](
        convt.out_channels, convt.in_channels, k, stride=convt.stride, groups=g, bias=False
    )
    cols = im2col(adjoint_conv, z)
    cg, rg = cols.shape[1] // g, convt.in_channels // g
    for gi in range(g):
        torch.testing.assert_close(
            svd.matrix[gi] @ cols[:, gi * cg : (gi + 1) * cg], adj.flatten(2)[:, gi * rg : (gi + 1) * rg]
        )

    # kernel == stride: each input position writes its own output block through W̄ᵀ, so the dense
    # operator's singular values are W̄'s, each repeated once per input position
    from ddp_widgets.core.operator import dense_operator_matrix

    dense = dense_operator_matrix(convt, (n,) * dims)
    assert dense.shape == (convt.out_channels * math.prod(k) * n**dims, convt.in_channels * n**dims)
    op_values = torch.linalg.svdvals(dense)
    expected = torch.sort(svd.values.repeat(n**dims), descending=True).values
    torch.testing.assert_close(op_values[: expected.numel()], expected, rtol=1e-10, atol=1e-10)
    rest = op_values[expected.numel() :]
    assert rest.numel() == 0 or float(rest.max()) < 1e-10
