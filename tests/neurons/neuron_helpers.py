"""Helpers shared by the neuron tests."""

from __future__ import annotations

import torch


def hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def modes(model: torch.nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def identical(model: torch.nn.Module, saved: dict[str, torch.Tensor]) -> bool:
    """Every parameter bit-identical to its saved copy (NaN-safe: compares the bytes)."""
    return all(
        torch.equal(
            p.detach().view(torch.uint8) if p.dtype.is_floating_point else p.detach(),
            saved[n].view(torch.uint8) if p.dtype.is_floating_point else saved[n],
        )
        for n, p in model.named_parameters()
    )
