"""Exact singular values of the linear operator a convolution applies to an input of a given size.

Sedghi, Gupta & Long (ICLR 2019): with circular padding and stride 1 the operator is block-circulant, so
after a d-dimensional DFT of the kernel (zero-padded, or wrapped round when the kernel is larger than the
input) it splits into one small (c_out × c_in) matrix per frequency; the operator's singular values are
the union of theirs: prod(n) · min(c_out, c_in) values per group. Dilation is exact too (the kernel is
spread on its dilated grid). Strided or zero-padded layers get the stride-1 circular operator's values,
labelled as an approximation, and so are layers whose padding does not keep the input size (their
operator is not block-circulant).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import InputShapeError, LayerNotDecomposableError
from .layers import CONV_TYPES, TRANSPOSED_TYPES


@dataclass(frozen=True)
class OperatorSpectrum:
    values: np.ndarray  # singular values, descending
    input_size: tuple[int, ...]
    exact: bool
    note: str


def _dilate(kernel: torch.Tensor, dilation: Sequence[int]) -> torch.Tensor:
    if all(d == 1 for d in dilation):
        return kernel
    spatial = kernel.shape[2:]
    out = kernel.new_zeros(*kernel.shape[:2], *[(k - 1) * d + 1 for k, d in zip(spatial, dilation)])
    every_dth = (slice(None), slice(None), *[slice(None, None, d) for d in dilation])
    out[every_dth] = kernel
    return out


def _wrap(kernel: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Fold a kernel onto an n-periodic grid (sum entries whose positions agree mod n)."""
    for axis, n in enumerate(size, start=2):
        k = kernel.shape[axis]
        if k <= n:
            continue
        pad = (-k) % n
        shape = list(kernel.shape)
        if pad:
            widths = [0, 0] * (kernel.dim() - axis - 1) + [0, pad]
            kernel = torch.nn.functional.pad(kernel, widths)
        shape = list(kernel.shape)
        kernel = kernel.reshape(*shape[:axis], shape[axis] // n, n, *shape[axis + 1 :]).sum(axis)
    return kernel


def operator_singular_values(
    conv: nn.Module | torch.Tensor,
    input_size: int | Sequence[int],
    *,
    groups: int | None = None,
    dilation: Sequence[int] | None = None,
    stride: Sequence[int] | None = None,
    padding: Any = None,
    padding_mode: str = "circular",
    transposed: bool = False,
    dtype: torch.dtype = torch.float64,
) -> OperatorSpectrum:
    """Singular values of the convolution operator on an input of spatial size `input_size`.

    `conv` is a conv module, or a weight tensor described by the keyword arguments (groups, dilation,
    stride, padding, padding_mode, transposed), which only label whether the result is exact: it is for
    stride 1, circular padding and a padding that keeps the input size in every dimension
    (2·padding = dilation·(kernel − 1)); padding=None (a bare tensor) means the circular convolution itself.
    """
    if isinstance(conv, torch.Tensor):
        weight, g = conv, groups or 1
        stride = tuple(stride) if stride is not None else None
        dil = tuple(dilation) if dilation is not None else (1,) * (conv.dim() - 2)
    elif isinstance(conv, CONV_TYPES + TRANSPOSED_TYPES):
        weight, g = conv.weight, int(conv.groups)
        stride, padding_mode, dil = tuple(conv.stride), conv.padding_mode, tuple(conv.dilation)
        padding = conv.padding
        transposed = isinstance(conv, TRANSPOSED_TYPES)
    else:
        raise LayerNotDecomposableError(
            f"the operator spectrum is defined for convolutions, not {type(conv).__name__}; "
            f"for a Linear layer it equals the unfolded view"
        )
    spatial_dims = weight.dim() - 2
    size = (
        (int(input_size),) * spatial_dims
        if isinstance(input_size, (int, np.integer))
        else tuple(int(s) for s in input_size)
    )
    size = size[-spatial_dims:]
    if len(size) != spatial_dims or min(size) < 1:
        raise InputShapeError(
            f"input_size must give {spatial_dims} spatial sizes for this layer, got {input_size!r}"
        )

    w = weight.detach().to(dtype)
    c0, c1 = w.shape[:2]
    kernel = _wrap(_dilate(w, dil), size)
    # (g, c0/g, c1, *k): one block per group; ConvTranspose's block is the adjoint, same singular values
    kernel = kernel.reshape(g, c0 // g, c1, *kernel.shape[2:])
    dims = tuple(range(3, 3 + spatial_dims))
    freq = torch.fft.rfftn(kernel, s=size, dim=dims)  # (g, a, b, n1, ..., n_last//2+1)
    last = size[-1]
    # conjugate frequency pairs share singular values: count each rfft column once or twice
    mult = torch.full((freq.shape[-1],), 2, dtype=torch.long)
    mult[0] = 1
    if last % 2 == 0:
        mult[-1] = 1
    mats = freq.movedim(1, -1).movedim(1, -1)  # (g, n..., a, b)
    sv = torch.linalg.svdvals(mats)  # (g, n1, ..., n_last//2+1, min(a, b))
    counts = mult.view(*([1] * (sv.dim() - 2)), -1, 1).expand_as(sv).reshape(-1)
    pooled = torch.repeat_interleave(sv.reshape(-1), counts)
    values = np.sort(pooled.cpu().numpy())[::-1].copy()

    notes = _approximations(tuple(w.shape[2:]), dil, stride, padding, padding_mode, transposed)
    exact = not notes
    note = (
        "exact (circular padding, stride 1, size-preserving padding)"
        if exact
        else "approximation: " + "; ".join(notes)
    )
    if transposed:
        note += " (transposed convolution: adjoint operator, same singular values)"
    return OperatorSpectrum(values, size, exact, note)


def _approximations(
    kernel: tuple[int, ...],
    dilation: Sequence[int],
    stride: Any,
    padding: Any,
    padding_mode: str,
    transposed: bool,
) -> list[str]:
    """Why the circular stride-1 operator is not this layer's operator (empty when it is)."""
    notes = []
    if stride is not None and any(s != 1 for s in stride):
        notes.append(f"stride {tuple(stride)}: values of the stride-1 operator")
    if padding_mode != "circular":
        notes.append(f"{padding_mode} padding treated as circular")
    if not transposed and padding is not None and padding != "same":  # (transposed convs pad with zeros)
        pads = (
            (0,) * len(kernel)
            if padding == "valid"
            else tuple(np.broadcast_to(np.asarray(padding), (len(kernel),)))
        )
        keeps = [2 * int(p) == d * (k - 1) for p, d, k in zip(pads, dilation, kernel)]
        if not all(keeps):
            bad = [i for i, ok in enumerate(keeps) if not ok]
            notes.append(
                f"padding {tuple(int(p) for p in pads)} does not keep the input size in dimension(s) "
                f"{', '.join(map(str, bad))} (needs 2·padding = dilation·(kernel − 1)): values of the "
                "size-preserving operator"
            )
    return notes


def dense_operator_matrix(conv: Any, input_size: Sequence[int]) -> torch.Tensor:
    """The operator as a dense matrix (for tests on small layers): column j = conv(e_j) − b."""
    c_in = conv.in_channels
    n = c_in * math.prod(input_size)
    basis = torch.eye(n, dtype=conv.weight.dtype).reshape(n, c_in, *input_size)
    with torch.no_grad():
        out = conv(basis)
        if conv.bias is not None:
            out = out - conv.bias.view(1, -1, *([1] * len(input_size)))
    return out.reshape(n, -1).T
