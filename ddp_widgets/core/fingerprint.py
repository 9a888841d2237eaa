"""A fingerprint of the profiled layers' weights, so that profiles of different weights are never merged."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch
from torch import nn


def tensor_bytes(t: torch.Tensor) -> bytes:
    """The exact bits of a tensor (any dtype, any device), in memory order of its contiguous CPU copy."""
    t = t.detach().to("cpu").contiguous().reshape(-1)
    if t.numel() == 0:
        return b""
    return t.view(torch.uint8).numpy().tobytes()  # exact bits, any dtype (bfloat16 included)


def weights_fingerprint(modules: Mapping[str, nn.Module]) -> str:
    """SHA-256 (hex, first 32 digits) of each named module's weight and bias: names, dtypes, shapes and bits.

    Two profiles get the same fingerprint exactly when the profiled layers hold bit-identical weights.
    """
    h = hashlib.sha256()
    for name in sorted(modules):
        module = modules[name]
        h.update(name.encode() + b"\0")
        for attr in ("weight", "bias"):
            t = getattr(module, attr, None)
            if not isinstance(t, torch.Tensor):
                h.update(f"{attr}:none\0".encode())
                continue
            h.update(f"{attr}:{t.dtype}:{tuple(t.shape)}\0".encode())
            h.update(tensor_bytes(t))
    return h.hexdigest()[:32]
