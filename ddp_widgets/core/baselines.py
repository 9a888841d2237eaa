"""Baselines a trained layer's spectrum is judged against (PAPER §3).

- "permuted": the layer's own weights, randomly permuted: the same entry distribution, no correlations.
- "random-init": the layer re-initialised by PyTorch's default `reset_parameters()` (a fresh copy; the
  model is not touched). For an architecture's own initialiser (torchvision models use custom ones),
  pass a freshly built model of the same architecture as the baseline instead.
"""

from __future__ import annotations

import copy
import zlib

import torch
from torch import nn

BASELINES = ("permuted", "random-init")


def _seed_for(name: str, seed: int) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**31)


def permuted_weight(weight: torch.Tensor, seed: int = 0, name: str = "") -> torch.Tensor:
    """The weight's entries in a random order (deterministic for a given seed and layer name)."""
    w = weight.detach()
    gen = torch.Generator(device="cpu").manual_seed(_seed_for(name, seed))
    perm = torch.randperm(w.numel(), generator=gen).to(w.device)
    return w.reshape(-1)[perm].reshape(w.shape)


def random_init_weight(module: nn.Module, seed: int = 0, name: str = "") -> torch.Tensor:
    """The weight a fresh copy of `module` gets from its default initialiser (seeded; module untouched)."""
    if not hasattr(module, "reset_parameters"):
        raise TypeError(f"{type(module).__name__} has no reset_parameters(); pass a freshly built model as the baseline")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed_for(name, seed))
        fresh = copy.deepcopy(module).to("cpu")
        fresh.reset_parameters()
    return fresh.weight.detach().to(module.weight.device)


def baseline_weight(baseline: str | nn.Module, module: nn.Module, name: str, seed: int = 0) -> torch.Tensor:
    """The baseline weight of one layer: by kind ("permuted" | "random-init") or from a reference model."""
    if isinstance(baseline, nn.Module):
        ref = dict(baseline.named_modules()).get(name)
        if ref is None or getattr(ref, "weight", None) is None or ref.weight.shape != module.weight.shape:
            raise ValueError(
                f"the baseline model has no layer '{name}' with weight shape {tuple(module.weight.shape)}: "
                f"pass a model of the same architecture (e.g. built with weights=None)"
            )
        return ref.weight.detach()
    if baseline == "permuted":
        return permuted_weight(module.weight, seed, name)
    if baseline == "random-init":
        return random_init_weight(module, seed, name)
    raise ValueError(f"unknown baseline {baseline!r}: use 'permuted', 'random-init' or a model of the same architecture")
