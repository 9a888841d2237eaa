"""Baselines a trained layer's spectrum is judged against (PAPER §3), in one registry: `BASELINES`.

- "permuted": the layer's own weights, randomly permuted: the same entry distribution, no correlations.
- "random-init": the layer re-initialised by PyTorch's default initialiser (on a fresh copy; the model
  is not touched). A parametrized layer (weight_norm, spectral_norm, ...) is re-initialised through its
  parametrization; when a reset leaves the weight unchanged (no `reset_parameters`, or one that does
  nothing to the effective weight), the baseline is a fresh default-initialised matrix of the same shape
  (PyTorch's Linear/Conv default, kaiming-uniform with a = √5) and its note says so. For an
  architecture's own initialiser (torchvision models use custom ones), pass a freshly built model of
  the same architecture as the baseline instead.

Adding a baseline is one `Baseline` entry in `BASELINES` (plus its tests).
"""

from __future__ import annotations

import copy
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from .errors import BaselineModelError, unknown_option
from .layers import LayerInfo
from .weights import is_quantized, read_weight, unwrap_model


@dataclass(frozen=True)
class BaselineWeight:
    weight: torch.Tensor
    note: str = ""


@dataclass(frozen=True)
class Baseline:
    """A kind of baseline: `make(layer, module, weight, seed)` gives the baseline weight of one layer."""

    name: str
    label: str
    description: str
    make: Callable[[LayerInfo, nn.Module, torch.Tensor, int], BaselineWeight]


def _seed_for(name: str, seed: int) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**31)


def permuted_weight(weight: torch.Tensor, seed: int = 0, name: str = "") -> torch.Tensor:
    """The weight's entries in a random order (deterministic for a given seed and layer name)."""
    w = weight.detach()
    gen = torch.Generator(device="cpu").manual_seed(_seed_for(name, seed))
    perm = torch.randperm(w.numel(), generator=gen).to(w.device)
    return w.reshape(-1)[perm].reshape(w.shape)


def default_init_matrix(shape: tuple[int, ...], seed: int = 0, name: str = "", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A fresh matrix as PyTorch's Linear/Conv `reset_parameters` makes it: kaiming-uniform, a = √5."""
    gen = torch.Generator(device="cpu").manual_seed(_seed_for(name, seed))
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
    bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0  # gain·√(3/fan_in) with a = √5
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1).mul_(bound).to(dtype)


def _reset_copy(layer: LayerInfo, module: nn.Module, seed: int) -> torch.Tensor | None:
    """The effective weight of a reset copy of `module`, or None when it has no way to reset."""
    fresh = copy.deepcopy(module).to("cpu")
    param = layer.parameter
    if parametrize.is_parametrized(fresh, param):  # re-initialise what the parametrization is built from
        # (remove_parametrizations on a copy would edit the class it shares with the original module)
        current = read_weight(fresh, param)
        with torch.no_grad():
            try:  # a default-initialised weight, set through the parametrization's right_inverse
                setattr(fresh, param, default_init_matrix(tuple(current.shape), seed, layer.name, current.dtype))
            except NotImplementedError:
                return None
            fresh.train()  # settle state kept beside the weight (spectral norm's power iteration) on the copy
            for _ in range(20):
                getattr(fresh, param)
        return read_weight(fresh, param, layer.rows)
    reset = getattr(fresh, "reset_parameters", None) or getattr(fresh, "_reset_parameters", None)
    if reset is None or is_quantized(fresh):
        return None
    reset()
    return read_weight(fresh, param, layer.rows)


def random_init(layer: LayerInfo, module: nn.Module, weight: torch.Tensor, seed: int = 0) -> BaselineWeight:
    """The weight a fresh copy of the layer gets from its default initialiser (seeded; module untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed_for(layer.name, seed))
        fresh = _reset_copy(layer, module, seed)
    if fresh is not None and not torch.equal(fresh.to(weight.device, weight.dtype), weight):
        note = "re-initialised through its parametrization (default kaiming-uniform weight)" if parametrize.is_parametrized(module, layer.parameter) else ""
        return BaselineWeight(fresh.to(weight.device), note)
    why = "has no reset" if fresh is None else "reset left the weight unchanged"
    return BaselineWeight(
        default_init_matrix(tuple(weight.shape), seed, layer.name, weight.dtype).to(weight.device),
        f"{layer.kind} {why}: a fresh default-initialised (kaiming-uniform) matrix of the same shape",
    )


def random_init_weight(module: nn.Module, seed: int = 0, name: str = "") -> torch.Tensor:
    """The default-initialised weight of a fresh copy of a Conv/Linear `module` (see `random_init`)."""
    import dataclasses

    from .layers import list_layers

    info = dataclasses.replace(list_layers(module, probe_pass=False).get(""), name=name)  # seeded by `name`
    return random_init(info, module, read_weight(module), seed).weight


def _permuted(layer: LayerInfo, module: nn.Module, weight: torch.Tensor, seed: int) -> BaselineWeight:
    return BaselineWeight(permuted_weight(weight, seed, layer.name))


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("permuted", "permuted weights", "the layer's own entries in a random order", _permuted),
        Baseline("random-init", "random initialisation", "the layer re-initialised by PyTorch's default", random_init),
    )
}


def reference_weight(reference: nn.Module, layer: LayerInfo, weight: torch.Tensor) -> torch.Tensor:
    """The same layer's weight in a reference model of the same architecture."""
    ref_weight = None
    try:
        module = unwrap_model(reference).get_submodule(layer.module_path)
        ref_weight = read_weight(module, layer.parameter, layer.rows)
    except (AttributeError, TypeError):
        pass
    if ref_weight is None or tuple(ref_weight.shape) != tuple(weight.shape):
        raise BaselineModelError(
            f"the baseline model has no layer '{layer.name}' with weight shape {tuple(weight.shape)}: "
            f"pass a model of the same architecture (e.g. built with weights=None)"
        )
    return ref_weight


def baseline_weight(
    baseline: str | nn.Module, layer: LayerInfo, module: nn.Module, weight: torch.Tensor, seed: int = 0
) -> BaselineWeight:
    """The baseline weight of one layer: by kind (a name in BASELINES) or from a reference model."""
    if isinstance(baseline, nn.Module):
        return BaselineWeight(reference_weight(baseline, layer, weight), "reference model")
    if baseline not in BASELINES:
        raise unknown_option("baseline", baseline, [*BASELINES, "a model of the same architecture"])
    return BASELINES[baseline].make(layer, module, weight, seed)
