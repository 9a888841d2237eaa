"""The exact operator spectrum (Sedghi, Gupta & Long 2019) against the dense operator matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ddp_widgets.core import operator_singular_values
from ddp_widgets.core.operator import dense_operator_matrix

CIRC = {"padding_mode": "circular"}
CONFIGS = [
    ("3x3", lambda: nn.Conv2d(3, 4, 3, padding=1, **CIRC), (5, 5)),
    ("rectangular-input", lambda: nn.Conv2d(4, 3, 3, padding=1, **CIRC), (4, 6)),
    ("groups", lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2, **CIRC), (4, 5)),
    ("depthwise", lambda: nn.Conv2d(4, 4, 3, padding=1, groups=4, **CIRC), (5, 5)),
    ("dilation", lambda: nn.Conv2d(2, 3, 3, padding=2, dilation=2, **CIRC), (6, 5)),
    ("non-square-kernel", lambda: nn.Conv2d(3, 2, (3, 5), padding=(1, 2), **CIRC), (5, 6)),
    ("even-kernel", lambda: nn.Conv2d(2, 3, (2, 4), padding="same", **CIRC), (5, 6)),
    ("kernel-larger-than-input", lambda: nn.Conv2d(2, 3, 5, padding=2, **CIRC), (3, 3)),
    ("kernel-larger-one-axis", lambda: nn.Conv2d(2, 2, (5, 3), padding=(2, 1), **CIRC), (3, 4)),
    ("pointwise", lambda: nn.Conv2d(5, 3, 1, **CIRC), (3, 4)),
    ("conv1d", lambda: nn.Conv1d(3, 4, 5, padding=2, **CIRC), (7,)),
    ("conv1d-groups-dilation", lambda: nn.Conv1d(4, 2, 3, padding=2, dilation=2, groups=2, **CIRC), (8,)),
    ("conv3d", lambda: nn.Conv3d(2, 3, 3, padding=1, **CIRC), (3, 4, 3)),
]


@pytest.mark.parametrize("label,factory,size", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_operator_values_equal_dense_operator_singular_values(label, factory, size):
    torch.manual_seed(0)
    conv = factory().double()
    dense = dense_operator_matrix(conv, size)
    n = math.prod(size)
    assert dense.shape == (conv.out_channels * n, conv.in_channels * n)  # stride 1, "same" output
    # the dense matrix really is the operator: dense @ x == conv(x) - b
    x = torch.randn(1, conv.in_channels, *size, dtype=torch.float64)
    with torch.no_grad():
        y = conv(x) - conv.bias.view(1, -1, *[1] * len(size))
    torch.testing.assert_close(dense @ x.reshape(-1), y.reshape(-1))

    ref = torch.linalg.svdvals(dense).numpy()
    op = operator_singular_values(conv, size)
    assert op.exact and "exact" in op.note
    assert op.input_size == size
    assert op.values.shape == ref.shape
    assert np.all(np.diff(op.values) <= 0)
    assert np.max(np.abs(op.values - ref)) <= 1e-8


def test_operator_of_a_bare_weight_matches_the_module():
    torch.manual_seed(1)
    conv = nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, padding_mode="circular").double()
    a = operator_singular_values(conv, 6).values
    b = operator_singular_values(conv.weight, (6, 6), groups=2, dilation=(2, 2)).values
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "factory,why",
    [
        (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, padding_mode="circular"), "stride"),
        (lambda: nn.Conv2d(3, 4, 3, padding=1), "zeros padding"),
        (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), "stride"),
        (lambda: nn.Conv1d(3, 4, 3), "zeros padding"),
    ],
)
def test_strided_or_zero_padded_layers_are_labelled_approximate(factory, why):
    conv = factory()
    op = operator_singular_values(conv, 8)
    assert op.exact is False
    assert op.note.startswith("approximation") and why in op.note


def test_zero_padding_really_differs_from_the_circular_operator():
    """Why the label matters: the zero-padded operator's spectrum is not the circular one."""
    torch.manual_seed(2)
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    exact_zero = torch.linalg.svdvals(dense_operator_matrix(conv, (5, 5))).numpy()
    approx = operator_singular_values(conv, 5).values
    assert approx.shape == exact_zero.shape
    assert np.max(np.abs(approx - exact_zero)) > 1e-3


def test_bad_input_size_is_rejected():
    with pytest.raises(ValueError, match="input_size must give 2 spatial sizes"):
        operator_singular_values(nn.Conv2d(2, 2, 3), 0)
    with pytest.raises(Exception, match="for a Linear layer it equals the unfolded view"):
        operator_singular_values(nn.Linear(3, 3), 4)


APPROXIMATE = [
    (
        "circular-no-padding",
        lambda: nn.Conv2d(3, 6, 3, padding=0, **CIRC),
        (6, 6),
        "does not keep the input size",
    ),
    ("circular-too-much-padding", lambda: nn.Conv2d(2, 3, 3, padding=2, **CIRC), (5, 5), "dimension(s) 0, 1"),
    ("circular-one-axis", lambda: nn.Conv2d(2, 3, (3, 3), padding=(1, 0), **CIRC), (5, 6), "dimension(s) 1 "),
    (
        "circular-dilation-mismatch",
        lambda: nn.Conv2d(2, 2, 3, padding=1, dilation=2, **CIRC),
        (6, 6),
        "dilation",
    ),
    ("zeros", lambda: nn.Conv2d(2, 3, 3, padding=1), (5, 5), "zeros padding"),
    ("stride", lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1, **CIRC), (6, 6), "stride"),
]


@pytest.mark.parametrize("label,factory,size,why", APPROXIMATE, ids=[c[0] for c in APPROXIMATE])
def test_every_non_exact_case_is_labelled_and_really_differs_from_the_dense_operator(
    label, factory, size, why
):
    """Issue 9: Conv2d(3, 6, 3, padding=0, circular) on 6×6 was labelled exact (σ_max 1.420; dense 1.219)."""
    torch.manual_seed(0)
    conv = factory().double()
    op = operator_singular_values(conv, size)
    assert op.exact is False and op.note.startswith("approximation") and why in op.note
    dense = torch.linalg.svdvals(dense_operator_matrix(conv, size)).numpy()
    n = min(dense.size, op.values.size)
    assert op.values.size != dense.size or np.max(np.abs(op.values[:n] - dense[:n])) > 1e-3


def test_the_issue_example_circular_unpadded():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 6, 3, padding=0, padding_mode="circular").double()
    op = operator_singular_values(conv, 6)
    dense = torch.linalg.svdvals(dense_operator_matrix(conv, (6, 6))).numpy()
    assert not op.exact and abs(op.values[0] - dense[0]) > 0.05


def test_exact_configs_are_labelled_exact():
    for label, factory, size in CONFIGS:
        op = operator_singular_values(factory(), size)
        assert op.exact and op.note.startswith("exact"), label
