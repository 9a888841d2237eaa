"""Find every weighted layer of any nn.Module, with canonical names and probe-pass shapes."""

from __future__ import annotations

import contextlib
import dataclasses
import html
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import InputShapeError, unknown_layer
from .weights import is_parametrized, is_quantized, raw_weight, read_weight, unwrap_model

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
TRANSPOSED_TYPES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
SUPPORTED_TYPES = CONV_TYPES + TRANSPOSED_TYPES + (nn.Linear,)
SUPPORTED_NAMES = "Conv1d/2d/3d, ConvTranspose1d/2d/3d and Linear"


NEVER_CALLED = (
    "the probe forward pass never called this module (its parent uses the weight directly, e.g. through "
    "F.linear or a fused attention kernel), so it has no output to hook"
)
SLICE_REASON = "a block of a parameter, not a module: it has no output of its own to hook"
TRANSPOSED_REASON = (
    "a transposed convolution's output is not a per-position image of Uᵀ; profile a Conv or Linear layer"
)
ENTERED = "\x00entered"  # probe() key of the modules' first-entry positions
QUANTIZED_REASON = "a quantized module computes its output from the quantized weight; profile the float model"


@dataclass(frozen=True)
class LayerInfo:
    """One weighted matrix: what it is, whether it can be decomposed or profiled, and what the probe saw."""

    name: str  # the named_modules path, e.g. "features.0" (for a parameter block: "attn.q_proj")
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
    module_name: str | None = None  # the module owning the weight, when it differs from `name`
    parameter: str = "weight"  # the attribute of that module holding the weight
    rows: tuple[int, int] | None = None  # a row block of that parameter (MultiheadAttention's Q, K, V)
    note: str = ""  # how the matrix is read (parametrized, dequantized, a block of in_proj_weight, ...)
    profile_reason: str | None = None  # why SVD-neuron signals of this layer cannot be captured

    @property
    def module_path(self) -> str:
        return self.name if self.module_name is None else self.module_name

    @property
    def parameter_name(self) -> str:
        """The qualified name of the parameter the matrix comes from, e.g. "features.0.weight"."""
        return f"{self.module_path}.{self.parameter}" if self.module_path else self.parameter

    @property
    def profilable(self) -> bool:
        return self.decomposable and self.profile_reason is None

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
        rows = self.weight_shape[0] // self.groups
        cols = math.prod(self.weight_shape[1:])
        return (rows, cols)

    @property
    def rank_bound(self) -> int:
        """Number of singular values (SVD neurons): groups * min(rows, cols)."""
        rows, cols = self.matrix_shape
        return self.groups * min(rows, cols)


class LayerList(list):
    """A list of LayerInfo in forward order, with lookup by name."""

    probe_error: str | None = None

    @property
    def names(self) -> list[str]:
        return [info.name for info in self]

    def _subset(self, keep: Any) -> LayerList:
        out = LayerList(info for info in self if keep(info))
        out.probe_error = self.probe_error
        return out

    @property
    def decomposable(self) -> LayerList:
        return self._subset(lambda info: info.decomposable)

    @property
    def profilable(self) -> LayerList:
        """The layers whose SVD-neuron signals a Profiler can capture."""
        return self._subset(lambda info: info.profilable)

    def get(self, name: str) -> LayerInfo:
        for info in self:
            if info.name == name:
                return info
        raise unknown_layer(name, self.names)

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{h}</th>" for h in ("#", "layer", "kind", "weight", "groups", "output", "note"))
        rows = []
        for i, info in enumerate(self):
            parts = [info.reason or "", info.note, "" if info.reason else (info.profile_reason or "")]
            if info.calls > 1:
                parts.append(f"called {info.calls}×")
            note = "; ".join(p for p in parts if p)
            out = "×".join(map(str, info.output_shape)) if info.output_shape else ""
            rows.append(
                f"<tr><td>{i}</td><td><code>{esc(info.name)}</code></td><td>{esc(info.kind)}</td>"
                f"<td>{'×'.join(map(str, info.weight_shape))}</td><td>{info.groups}</td>"
                f"<td>{out}</td><td>{esc(note)}</td></tr>"
            )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


@dataclass(frozen=True)
class _Entry:
    """A matrix found in the model, before the probe pass."""

    name: str
    module_name: str
    module: nn.Module
    parameter: str = "weight"
    rows: tuple[int, int] | None = None
    kind: str | None = None
    note: str = ""
    profile_reason: str | None = None


def _conv_attrs(module: Any) -> dict[str, Any]:
    conv_like = isinstance(module, CONV_TYPES + TRANSPOSED_TYPES) or (
        is_quantized(module) and type(module).__name__.startswith("Conv")
    )
    if not conv_like:
        return {}
    padding = module.padding
    return {
        "groups": int(module.groups),
        "transposed": isinstance(module, TRANSPOSED_TYPES)
        or type(module).__name__.startswith("ConvTranspose"),
        "stride": tuple(module.stride),
        "padding": padding if isinstance(padding, str) else tuple(padding),
        "dilation": tuple(module.dilation),
        "padding_mode": getattr(module, "padding_mode", "zeros"),
    }


def _undecomposable_reason(entry: _Entry, weight: Any) -> str | None:
    module = entry.module
    if isinstance(weight, nn.parameter.UninitializedParameter):
        return "lazy module not initialised yet: run one forward pass through the model first"
    if weight is None and not is_quantized(module):
        return "the module has no weight"
    if weight is not None and weight.is_meta:
        return (
            "weights are on the meta device (no values): materialise them, e.g. "
            "model.to_empty(device='cpu') then model.load_state_dict(...)"
        )
    if (
        isinstance(module, SUPPORTED_TYPES)
        or is_quantized(module)
        or isinstance(module, nn.MultiheadAttention)
    ):
        return None
    if not entry.module_name:
        return (
            f"a parameter of the model itself ({type(module).__name__}.{entry.parameter}), not of a layer "
            f"ddp-widgets decomposes (it handles {SUPPORTED_NAMES})"
        )
    return f"{type(module).__name__} is not a layer ddp-widgets decomposes (it handles {SUPPORTED_NAMES})"


def _attention_entries(name: str, mha: nn.MultiheadAttention) -> Iterator[_Entry]:
    prefix = f"{name}." if name else ""
    e = mha.embed_dim
    for i, part in enumerate("qkv"):
        if mha.in_proj_weight is not None:
            block, rows = "in_proj_weight", (i * e, (i + 1) * e)
            note = f"{part.upper()} block of in_proj_weight (rows {i * e}–{(i + 1) * e - 1})"
        else:
            block, rows, note = f"{part}_proj_weight", None, f"{part.upper()} projection ({part}_proj_weight)"
        yield _Entry(f"{prefix}{part}_proj", name, mha, block, rows, "MultiheadAttention", note, SLICE_REASON)


def _entries(model: nn.Module) -> Iterator[_Entry]:
    """Supported layers (and their parts), plus every other >=2-D parameter (listed with a reason)."""
    for name, module in model.named_modules():
        if "parametrizations" in name.split("."):  # inside a parametrization: read through its layer
            continue
        if isinstance(module, SUPPORTED_TYPES) or is_quantized(module):
            note = "dequantized weight of a quantized module" if is_quantized(module) else ""
            if is_parametrized(module):
                note = "effective weight of a parametrization (read in eval mode, no buffer changes)"
            yield _Entry(name, name, module, note=note)
            continue
        if isinstance(module, nn.MultiheadAttention):
            yield from _attention_entries(name, module)
            continue
        params = [
            n
            for n, p in module.named_parameters(recurse=False)
            if isinstance(p, nn.parameter.UninitializedParameter) or p.dim() >= 2
        ]
        if name and params == ["weight"]:  # e.g. an Embedding: listed under its own name
            yield _Entry(name, name, module, "weight")
        else:
            for n in params:
                yield _Entry(f"{name}.{n}" if name else n, name, module, n)


def _static_info(entry: _Entry) -> dict[str, Any]:
    module = entry.module
    raw = raw_weight(module, entry.parameter)
    reason = _undecomposable_reason(entry, raw)
    lazy = isinstance(raw, nn.parameter.UninitializedParameter)
    if lazy or (raw is None and not is_quantized(module)) or (raw is not None and raw.is_meta):
        shape: tuple[int, ...] = () if lazy or raw is None else tuple(raw.shape)
    else:
        shape = tuple(read_weight(module, entry.parameter, entry.rows).shape)
    bias = getattr(module, "bias", None) if entry.rows is None else getattr(module, "in_proj_bias", None)
    return {
        "name": entry.name,
        "kind": entry.kind or type(module).__name__,
        "weight_shape": shape,
        "has_bias": bias is not None,
        "reason": reason,
        "module_name": entry.module_name if entry.module_name != entry.name else None,
        "parameter": entry.parameter,
        "rows": entry.rows,
        "note": entry.note,
        **_conv_attrs(module),
    }


def _profile_reason(entry: _Entry, static: dict[str, Any], called: bool | None) -> str | None:
    if static["reason"] is not None:
        return static["reason"]
    if entry.profile_reason is not None:
        return entry.profile_reason
    if static.get("transposed"):
        return TRANSPOSED_REASON
    if is_quantized(entry.module):
        return QUANTIZED_REASON
    if called is False:
        return NEVER_CALLED
    return None


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's parameters (float32 when it has none)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def to_model_input(x: Any, model: nn.Module) -> Any:
    """Move tensors (nested in lists, tuples, dicts) to the model's device; floating ones to its dtype."""
    device, dtype = model_device(model), model_dtype(model)
    if isinstance(x, torch.Tensor):
        return x.to(device, dtype) if x.is_floating_point() else x.to(device)
    if isinstance(x, (list, tuple)):
        return type(x)(to_model_input(v, model) for v in x)
    if isinstance(x, dict):
        return {k: to_model_input(v, model) for k, v in x.items()}
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
        if isinstance(first, SUPPORTED_TYPES) and not isinstance(
            first.weight, nn.parameter.UninitializedParameter
        ):
            return f"the model's first weighted layer '{first_name}' expects {expected_input_hint(first)}"
    return "see the model's forward() for the input it expects"


def probe(model: nn.Module, example_input: Any, watch: dict[str, nn.Module]) -> dict[str, dict[str, Any]]:
    """Run one no-grad forward pass, recording for each watched module its calls, order and shapes.

    Every module's first entry (pre-hook) position is recorded under the key ENTERED.
    The input takes the model's device and floating dtype. Hooks are removed and training modes
    restored whatever happens. A failure raises InputShapeError naming the innermost running module.
    """
    seen: dict[str, dict[str, Any]] = {}
    entered: dict[str, int] = {}
    stack: list[tuple[str, nn.Module]] = []
    handles = []

    def enter(name: str, module: nn.Module) -> Any:
        def hook(_mod: nn.Module, _inputs: Any) -> None:
            stack.append((name, module))
            entered.setdefault(name, len(entered))

        return hook

    def leave(name: str) -> Any:
        def hook(_mod: nn.Module, inputs: Any, output: Any) -> None:
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

    x = to_model_input(example_input, model)
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
    seen[ENTERED] = {"entered": entered}
    return seen


def infer_example_inputs(model: nn.Module) -> list[torch.Tensor]:
    """Candidate probe inputs guessed from the first weighted layer (several spatial sizes to try)."""
    for m in model.modules():
        module: Any = m  # conv and linear attributes, also on quantized modules
        weight = getattr(module, "weight", None)
        if isinstance(weight, nn.parameter.UninitializedParameter):
            return []
        quantized = is_quantized(module)
        if isinstance(module, nn.Linear) or (quantized and hasattr(module, "in_features")):
            return [torch.zeros(1, module.in_features)]
        if isinstance(module, CONV_TYPES + TRANSPOSED_TYPES) or (
            quantized and hasattr(module, "in_channels")
        ):
            c, dims = module.in_channels, len(module.kernel_size)
            sizes = {1: (256, 64), 2: (224, 32, 28, 64, 96, 299), 3: (16, 8)}[dims]
            return [torch.zeros(1, c, *([s] * dims)) for s in sizes]
    return []


def _run_probe(
    model: nn.Module, example_input: Any, watch: dict[str, nn.Module]
) -> tuple[dict[str, Any], str | None]:
    """The probe records (empty when no pass ran) and why an inferred input did not fit."""
    if example_input is not None:
        return probe(model, example_input, watch), None
    error = None
    for candidate in infer_example_inputs(model):
        try:
            return probe(model, candidate, watch), None
        except InputShapeError as exc:
            error = str(exc)
    return {}, error or "could not infer an example input; pass example_input=..."


def _forward_position(name: str, called: bool, entered: dict[str, int]) -> float:
    """Where a layer goes in forward order: its first entry, or (never called) the end of the subtree
    of its nearest called ancestor other than the model itself; last when there is none."""
    if called:
        return entered.get(name, math.inf)
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        anchor = ".".join(parts[:cut])
        if anchor in entered:
            return max(p for n, p in entered.items() if n == anchor or n.startswith(anchor + ".")) + 0.5
    return math.inf


def list_layers(model: nn.Module, example_input: Any = None, *, probe_pass: bool = True) -> LayerList:
    """Every weight matrix of `model`, in forward order when a probe pass ran.

    Conv1d/2d/3d, ConvTranspose1d/2d/3d and Linear layers (also parametrized or quantized ones) and the
    Q, K, V blocks of MultiheadAttention are decomposable; any other parameter of two or more dimensions
    is listed with the reason it is not. With `example_input` (or one inferred from the first layer),
    one no-grad forward pass records each layer's input and output shapes, its position in forward order
    and how often it was called; layers it never called are listed as not profilable. A given example
    input that does not fit raises InputShapeError; an inferred one that does not fit just leaves the
    shapes empty (see `LayerList.probe_error`). torch.compile / DataParallel wrappers are unwrapped. The
    model's device, parameters, buffers and train/eval modes are left unchanged.
    """
    model = unwrap_model(model)
    found = list(_entries(model))
    watch = {e.module_name: e.module for e in found}

    seen: dict[str, Any] = {}
    probe_error = None
    raws = [raw_weight(e.module, e.parameter) for e in found]
    if probe_pass and found and not any(w is not None and getattr(w, "is_meta", False) for w in raws):
        seen, probe_error = _run_probe(model, example_input, watch)
    if seen and any(isinstance(w, nn.parameter.UninitializedParameter) for w in raws):
        found = list(_entries(model))  # the probe pass materialised lazy modules
    entered: dict[str, int] = seen.pop(ENTERED, {}).get("entered", {}) if seen else {}

    keyed = []
    for index, entry in enumerate(found):
        static = _static_info(entry)
        rec = seen.get(entry.module_name, {})
        called = bool(rec) if seen else None
        block = entry.rows is not None or entry.module_name != entry.name and entry.profile_reason is not None
        info = LayerInfo(
            decomposable=static["reason"] is None,
            calls=rec.get("calls", 0),
            input_shape=None if block else rec.get("input_shape"),
            output_shape=None if block else rec.get("output_shape"),
            profile_reason=_profile_reason(entry, static, called),
            **static,
        )
        keyed.append((_forward_position(entry.module_name, bool(called), entered), index, info))
    if seen:  # forward order; never-called layers after their caller, or last
        keyed.sort(key=lambda t: (t[0], t[1]))
    infos, k = [], 0
    for _, _, info in keyed:
        if info.calls:
            info = dataclasses.replace(info, order=k)
            k += 1
        infos.append(info)
    out = LayerList(infos)
    out.probe_error = probe_error
    return out


def get_layer(model: nn.Module, name: str, layers: Sequence[LayerInfo] | None = None) -> nn.Module:
    """The module behind a layer name (for a parameter block: the module owning it), or UnknownLayerError."""
    model = unwrap_model(model)
    infos = list(layers) if layers is not None else list_layers(model, probe_pass=False)
    for info in infos:
        if info.name == name:
            return model.get_submodule(info.module_path)
    raise unknown_layer(name, [i.name for i in infos])


__all__ = [
    "SUPPORTED_TYPES",
    "LayerInfo",
    "LayerList",
    "get_layer",
    "list_layers",
    "model_device",
    "model_dtype",
    "to_model_input",
]
