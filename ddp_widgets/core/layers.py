"""Find every weighted layer of any nn.Module, with canonical names and probe-pass shapes."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from .errors import InputShapeError, require_module, unknown_layer

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
TRANSPOSED_TYPES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
SUPPORTED_TYPES = CONV_TYPES + TRANSPOSED_TYPES + (nn.Linear,)
SUPPORTED_NAMES = "Conv1d/2d/3d, ConvTranspose1d/2d/3d and Linear"


@dataclass(frozen=True)
class LayerInfo:
    """One weighted layer: what it is, whether it can be decomposed, and what the probe pass saw."""

    name: str  # the named_modules path, e.g. "features.0"
    kind: str  # the module's class name, e.g. "Conv2d"
    weight_shape: tuple[int, ...]
    groups: int = 1
    transposed: bool = False
    has_bias: bool = False
    decomposable: bool = True
    reason: str | None = None  # why the layer cannot be decomposed
    stride: tuple[int, ...] | None = None
    padding: Any = None
    dilation: tuple[int, ...] | None = None
    padding_mode: str | None = None
    order: int | None = None  # position in forward order (first call) during the probe pass
    calls: int = 0  # how often the probe pass called the module
    input_shape: tuple[int, ...] | None = None  # of the first call
    output_shape: tuple[int, ...] | None = None

    @property
    def kernel_size(self) -> tuple[int, ...]:
        return tuple(self.weight_shape[2:])

    @property
    def matrix_shape(self) -> tuple[int, int]:
        """Shape of one group's unfolded matrix: (rows, columns) = (d/g, c/g * prod(k)).

        For ConvTranspose the rows are the input channels (see decompose.unfold_weight).
        """
        if len(self.weight_shape) < 2:
            return (0, 0)
        rows = self.weight_shape[0] // self.groups if self.kind != "Linear" else self.weight_shape[0]
        cols = math.prod(self.weight_shape[1:])
        return (rows, cols)

    @property
    def rank_bound(self) -> int:
        """Number of singular values (SVD neurons): groups * min(rows, cols)."""
        rows, cols = self.matrix_shape
        return self.groups * min(rows, cols)

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.name,
            "kind": self.kind,
            "shape": self.weight_shape,
            "groups": self.groups,
            "matrix": self.matrix_shape,
            "order": self.order,
            "calls": self.calls,
            "input_shape": self.input_shape,
            "output_shape": self.output_shape,
            "decomposable": self.decomposable,
            "reason": self.reason,
        }


class LayerList(list):
    """A list of LayerInfo in forward order, with lookup by name."""

    probe_error: str | None = None

    @property
    def names(self) -> list[str]:
        return [info.name for info in self]

    @property
    def decomposable(self) -> LayerList:
        out = LayerList(info for info in self if info.decomposable)
        out.probe_error = self.probe_error
        return out

    def get(self, name: str) -> LayerInfo:
        for info in self:
            if info.name == name:
                return info
        raise unknown_layer(name, self.names)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("#", "layer", "kind", "weight", "groups", "output", "note"))
        rows = []
        for i, info in enumerate(self):
            note = info.reason or (f"called {info.calls}×" if info.calls > 1 else "")
            out = "×".join(map(str, info.output_shape)) if info.output_shape else ""
            rows.append(
                f"<tr><td>{i}</td><td><code>{info.name}</code></td><td>{info.kind}</td>"
                f"<td>{'×'.join(map(str, info.weight_shape))}</td><td>{info.groups}</td>"
                f"<td>{out}</td><td>{note}</td></tr>"
            )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _conv_attrs(module: nn.Module) -> dict[str, Any]:
    if not isinstance(module, CONV_TYPES + TRANSPOSED_TYPES):
        return {}
    return {
        "groups": int(module.groups),
        "transposed": isinstance(module, TRANSPOSED_TYPES),
        "stride": tuple(module.stride),
        "padding": module.padding if isinstance(module.padding, str) else tuple(module.padding),
        "dilation": tuple(module.dilation),
        "padding_mode": module.padding_mode,
    }


def _undecomposable_reason(module: nn.Module, weight: Any) -> str | None:
    if isinstance(weight, nn.parameter.UninitializedParameter):
        return "lazy module not initialised yet: run one forward pass through the model first"
    if weight is None:
        return "the module has no weight"
    if weight.is_meta:
        return (
            "weights are on the meta device (no values): materialise them, e.g. "
            "model.to_empty(device='cpu') then model.load_state_dict(...)"
        )
    if not isinstance(module, SUPPORTED_TYPES):
        return f"{type(module).__name__} is not a layer ddp-widgets decomposes (it handles {SUPPORTED_NAMES})"
    return None


def _weighted_modules(model: nn.Module) -> Iterator[tuple[str, nn.Module, Any]]:
    """Supported layers, plus any other module owning a >=2-D parameter (listed with a reason)."""
    for name, module in model.named_modules():
        if isinstance(module, SUPPORTED_TYPES):
            yield name, module, module.weight
            continue
        for param in module.parameters(recurse=False):
            if isinstance(param, nn.parameter.UninitializedParameter) or param.dim() >= 2:
                yield name, module, param
                break


def _static_info(name: str, module: nn.Module, weight: Any) -> dict[str, Any]:
    lazy = isinstance(weight, nn.parameter.UninitializedParameter)
    shape = () if lazy or weight is None else tuple(weight.shape)
    return {
        "name": name,
        "kind": type(module).__name__,
        "weight_shape": shape,
        "has_bias": getattr(module, "bias", None) is not None,
        "reason": _undecomposable_reason(module, weight),
        **_conv_attrs(module),
    }


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_device(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    return x


def _first_shape(x: Any) -> tuple[int, ...] | None:
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        for v in x:
            s = _first_shape(v)
            if s is not None:
                return s
    if hasattr(x, "logits") and isinstance(x.logits, torch.Tensor):  # e.g. GoogLeNet/Inception outputs
        return tuple(x.logits.shape)
    return None


@contextlib.contextmanager
def preserved_modes(model: nn.Module) -> Iterator[None]:
    """Put the model in eval mode for the block and restore every submodule's own mode afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield
    finally:
        for m, training in modes:
            m.training = training


def call_model(model: nn.Module, x: Any) -> Any:
    if isinstance(x, dict):
        return model(**x)
    if isinstance(x, (list, tuple)):
        return model(*x)
    return model(x)


def expected_input_hint(module: nn.Module) -> str:
    if isinstance(module, CONV_TYPES + TRANSPOSED_TYPES):
        dims = ", ".join(["L", "H, W", "D, H, W"][module.weight.dim() - 3].split(", "))
        return f"(batch, {module.in_channels}, {dims})"
    if isinstance(module, nn.Linear):
        return f"(..., {module.in_features})"
    return "the shape the model's first layer expects"


def _input_hint(model: nn.Module, name: str, module: nn.Module) -> str:
    if name and isinstance(module, SUPPORTED_TYPES):
        return f"that layer expects {expected_input_hint(module)}"
    for first_name, first in model.named_modules():
        if isinstance(first, SUPPORTED_TYPES) and not isinstance(first.weight, nn.parameter.UninitializedParameter):
            return f"the model's first weighted layer '{first_name}' expects {expected_input_hint(first)}"
    return "see the model's forward() for the input it expects"


def probe(model: nn.Module, example_input: Any, watch: dict[str, nn.Module]) -> dict[str, dict[str, Any]]:
    """Run one no-grad forward pass, recording for each watched module its calls, order and shapes.

    Hooks are removed and training modes restored whatever happens. A failure raises InputShapeError
    naming the innermost module that was running.
    """
    seen: dict[str, dict[str, Any]] = {}
    stack: list[tuple[str, nn.Module]] = []
    handles = []

    def enter(name: str, module: nn.Module):
        def hook(_mod, _inputs):
            stack.append((name, module))

        return hook

    def leave(name: str):
        def hook(_mod, inputs, output):
            if stack:
                stack.pop()
            if name not in watch:
                return
            rec = seen.setdefault(name, {"calls": 0, "order": len(seen)})
            rec["calls"] += 1
            if rec["calls"] == 1:
                rec["input_shape"] = _first_shape(inputs)
                rec["output_shape"] = _first_shape(output)

        return hook

    x = _to_device(example_input, model_device(model))
    try:
        for name, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(enter(name, module)))
            handles.append(module.register_forward_hook(leave(name)))
        with preserved_modes(model), torch.no_grad():
            call_model(model, x)
    except Exception as exc:
        name, module = stack[-1] if stack else ("", model)
        label = f"layer '{name}' ({type(module).__name__})" if name else "the model's own forward"
        raise InputShapeError(
            f"the probe forward pass with an input of shape {_first_shape(x)} failed in {label}: {exc}. "
            f"Pass an example_input the model accepts; {_input_hint(model, name, module)}."
        ) from exc
    finally:
        for h in handles:
            h.remove()
    return seen


def infer_example_inputs(model: nn.Module) -> list[torch.Tensor]:
    """Candidate probe inputs guessed from the first weighted layer (several spatial sizes to try)."""
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if isinstance(weight, nn.parameter.UninitializedParameter):
            return []
        if isinstance(module, nn.Linear):
            return [torch.zeros(1, module.in_features)]
        if isinstance(module, CONV_TYPES + TRANSPOSED_TYPES):
            c, dims = module.in_channels, module.weight.dim() - 2
            sizes = {1: (256, 64), 2: (224, 32, 28, 64, 96, 299), 3: (16, 8)}[dims]
            return [torch.zeros(1, c, *([s] * dims)) for s in sizes]
    return []


def list_layers(model: nn.Module, example_input: Any = None, *, probe_pass: bool = True) -> LayerList:
    """Every weighted layer of `model`, in forward order when a probe pass ran.

    Conv1d/2d/3d, ConvTranspose1d/2d/3d and Linear layers are decomposable; any other module owning a
    parameter of two or more dimensions is listed with the reason it is not. With `example_input`
    (or one inferred from the first layer), one no-grad forward pass records each layer's input and
    output shapes, its position in forward order and how often it was called. A given example input
    that does not fit raises InputShapeError; an inferred one that does not fit just leaves the shapes
    empty (see `LayerList.probe_error`). The model's device and train/eval modes are left unchanged.
    """
    require_module(model)
    found = list(_weighted_modules(model))
    watch = {name: m for name, m, _ in found}

    seen: dict[str, dict[str, Any]] = {}
    probe_error = None
    can_probe = probe_pass and found and not any(w is not None and getattr(w, "is_meta", False) for _, _, w in found)
    if can_probe:
        if example_input is not None:
            seen = probe(model, example_input, watch)
        else:
            for candidate in infer_example_inputs(model):
                try:
                    seen = probe(model, candidate, watch)
                    break
                except InputShapeError as exc:
                    probe_error = str(exc)
            else:
                probe_error = probe_error or "could not infer an example input; pass example_input=..."
            if seen:
                probe_error = None
    if seen and any(isinstance(w, nn.parameter.UninitializedParameter) for _, _, w in found):
        found = list(_weighted_modules(model))  # the probe pass materialised lazy modules
    statics = [_static_info(name, m, w) for name, m, w in found]

    infos = []
    for (name, module, _), static in zip(found, statics):
        rec = seen.get(name, {})
        infos.append(
            LayerInfo(
                decomposable=static["reason"] is None,
                order=rec.get("order"),
                calls=rec.get("calls", 0),
                input_shape=rec.get("input_shape"),
                output_shape=rec.get("output_shape"),
                **static,
            )
        )
    if seen:  # forward order; modules the pass never called go last, in module order
        infos.sort(key=lambda i: (i.order is None, i.order if i.order is not None else 0))
        infos = [replace(info, order=k) if info.order is not None else info for k, info in enumerate(infos)]
    out = LayerList(infos)
    out.probe_error = probe_error
    return out


def get_layer(model: nn.Module, name: str, layers: Sequence[LayerInfo] | None = None) -> nn.Module:
    """The module behind a layer name, or UnknownLayerError suggesting valid names."""
    modules = dict(model.named_modules())
    valid = [i.name for i in layers] if layers is not None else [n for n, _, _ in _weighted_modules(model)]
    if name not in valid or name not in modules:
        raise unknown_layer(name, valid)
    return modules[name]


__all__ = ["SUPPORTED_TYPES", "LayerInfo", "LayerList", "get_layer", "list_layers", "model_device"]
