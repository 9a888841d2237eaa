"""Reading a layer's weight matrix from any module, without side effects, and fingerprinting it.

A weight matrix can be a plain parameter (``conv.weight``), the effective weight of a parametrization
(``weight_norm``, ``spectral_norm``, any ``torch.nn.utils.parametrize``, or the older hook-based
``torch.nn.utils.weight_norm`` / ``spectral_norm``), the dequantized weight of a quantized module, or a
row block of a parameter (the Q, K and V blocks of ``nn.MultiheadAttention.in_proj_weight``).

`weight_fingerprint` is a cheap key of the tensors a weight is computed from (identity, storage, shape
and the in-place version counter), so caches can tell when the weights changed: an optimiser step, a
``load_state_dict``, a ``.data`` assignment or ``model.to(...)`` all change it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from .errors import TorchScriptModelError, require_module


def _quantized_types() -> tuple[type, ...]:
    try:
        from torch.ao.nn import quantized as q
        from torch.ao.nn.quantized import dynamic as qd
    except ImportError:  # pragma: no cover - every supported torch has torch.ao
        return ()
    names = ("Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
    found = [getattr(mod, n) for mod in (q, qd) for n in names if hasattr(mod, n)]
    return tuple(dict.fromkeys(found))


QUANTIZED_TYPES = _quantized_types()


def is_quantized(module: nn.Module) -> bool:
    return bool(QUANTIZED_TYPES) and isinstance(module, QUANTIZED_TYPES)


def unwrap_model(model: Any) -> nn.Module:
    """The eager model inside torch.compile, DataParallel and DistributedDataParallel wrappers.

    A TorchScript module raises TorchScriptModelError: its submodules are opaque script modules.
    """
    require_module(model)
    seen = 0
    while seen < 16:
        seen += 1
        if isinstance(model, torch.jit.ScriptModule):
            raise TorchScriptModelError(
                f"{type(model).__name__} is a TorchScript module (torch.jit.script/trace), whose layers are "
                "opaque to ddp-widgets: pass the eager nn.Module it was made from instead"
            )
        inner = getattr(model, "_orig_mod", None)  # torch.compile's OptimizedModule
        if isinstance(inner, nn.Module) and type(model).__name__ == "OptimizedModule":
            model = inner
            continue
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
            continue
        break
    return model


def _hook_based(module: nn.Module, param: str) -> Any:
    """The old hook-based WeightNorm / SpectralNorm object computing `module.<param>`, if any."""
    from torch.nn.utils.spectral_norm import SpectralNorm
    from torch.nn.utils.weight_norm import WeightNorm

    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, (WeightNorm, SpectralNorm)) and hook.name == param:
            return hook
    return None


@contextlib.contextmanager
def _eval_mode(modules: Iterator[nn.Module]) -> Iterator[None]:
    modes = [(m, m.training) for m in modules]
    try:
        for m, _ in modes:
            m.training = False
        yield
    finally:
        for m, training in modes:
            m.training = training


def _parametrizations(module: nn.Module, param: str) -> nn.Module:
    plist: Any = module.parametrizations  # a ModuleDict that parametrize adds
    return plist[param]


def raw_weight(module: nn.Module, param: str = "weight") -> Any:
    """What stands for the weight before reading it: a tensor, an UninitializedParameter, or None."""
    if is_quantized(module):
        return None
    if parametrize.is_parametrized(module, param):
        return next(iter(_parametrizations(module, param).parameters()), None)
    return getattr(module, param, None)


def read_weight(
    module: nn.Module, param: str = "weight", rows: tuple[int, int] | None = None
) -> torch.Tensor:
    """The effective weight (detached), computed without changing any parameter or buffer.

    Parametrizations are evaluated in eval mode (spectral norm does no power iteration); quantized
    modules give their dequantized weight; `rows` selects a block of rows.
    """
    with torch.no_grad():
        if is_quantized(module):
            quantized: Any = module
            w = quantized.weight().dequantize()
        elif parametrize.is_parametrized(module, param):
            with _eval_mode(_parametrizations(module, param).modules()):
                w = getattr(module, param)
        else:
            hook = _hook_based(module, param)
            if hook is None:
                w = getattr(module, param)
            elif type(hook).__name__ == "SpectralNorm":
                w = hook.compute_weight(module, do_power_iteration=False)
            else:
                w = hook.compute_weight(module)
    w = w.detach()
    return w[rows[0] : rows[1]] if rows is not None else w


def weight_sources(module: nn.Module, param: str = "weight") -> list[Any]:
    """The objects the weight is computed from (tensors, or a quantized module's packed parameters)."""
    if is_quantized(module):
        packed = getattr(module, "_packed_params", None)
        return [getattr(packed, "_packed_params", packed)]
    if parametrize.is_parametrized(module, param):
        plist = _parametrizations(module, param)
        return [*plist.parameters(), *plist.buffers()]
    hook = _hook_based(module, param)
    if hook is not None:
        names = [n for n, _ in module.named_parameters(recurse=False)] + [
            n for n, _ in module.named_buffers(recurse=False)
        ]
        return [getattr(module, n) for n in names if n.startswith(param + "_")]
    return [getattr(module, param)]


def fingerprint(objects: list[Any]) -> tuple:
    """A cheap key that changes when any of the tensors is modified in place, replaced or moved."""
    key: list[tuple] = []
    for t in objects:
        if isinstance(t, torch.Tensor) and not t.is_meta:
            key.append((id(t), t.data_ptr(), t._version, tuple(t.shape), t.dtype, t.device))
        else:
            key.append((id(t),))
    return tuple(key)


def weight_fingerprint(module: nn.Module, param: str = "weight") -> tuple:
    return fingerprint(weight_sources(module, param))


def is_parametrized(module: nn.Module, param: str = "weight") -> bool:
    return parametrize.is_parametrized(module, param) or _hook_based(module, param) is not None


__all__ = [
    "QUANTIZED_TYPES",
    "fingerprint",
    "is_parametrized",
    "is_quantized",
    "raw_weight",
    "read_weight",
    "unwrap_model",
    "weight_fingerprint",
    "weight_sources",
]
