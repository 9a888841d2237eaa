"""Profiler: SVD-neuron signals of a model over a dataset, per class, streaming (the record: Profile).

>>> prof = Profiler(model)                     # all decomposable Conv/Linear layers
>>> profile = prof.profile(loader)             # DataLoader / Dataset / (x, y) iterable / tensor + labels
>>> profile.per_class("features.0")            # DataFrame
>>> profile.hypergraph(top_k=16).to_hypernetx()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ._classes import ClassAxis
from ._data import as_inputs, check_shard, plan_batches
from ._profile_run import ProfileRun, cast_inputs
from .analysis import SpectralAnalysis
from .core.errors import (
    DataError,
    InputShapeError,
    InvalidArgumentError,
    LayerNotDecomposableError,
    UnknownOptionError,
    unknown_layer,
)
from .core.featvis import FeatureVisualization, image_input_shape, visualize_neuron
from .core.layers import call_model, expected_input_hint, model_device, preserved_modes
from .core.profile import (
    CALLS,
    SignalCapture,
    SignalSpec,
    capture_signals,
    check_threshold,
    get_aggregation,
    influential,
)
from .profile_record import Profile, _neuron_arg

__all__ = ["Profile", "Profiler"]


class Profiler:
    """Binds a model (or a SpectralAnalysis of it) and the layers to profile.

    layers: names of Conv/Linear layers (default: every decomposable layer except transposed convs,
    whose outputs live in a folded space the projection does not apply to).
    """

    def __init__(
        self,
        model: nn.Module | SpectralAnalysis,
        layers: Sequence[str] | None = None,
        *,
        example_input: Any = None,
    ) -> None:
        if isinstance(model, SpectralAnalysis):
            self.analysis = model
        else:  # decomposes in float64 for float64 models, float32 otherwise (half models included)
            self.analysis = SpectralAnalysis(model, example_input, progress=False)
        self.model = self.analysis.model
        if layers is None:  # layers the probe saw called, with an output to hook
            self.layers = self.analysis.profilable_layers()
        else:
            self.layers = [layers] if isinstance(layers, str) else list(layers)
            for name in self.layers:
                self.analysis.check_profilable(name)
        if not self.layers:
            raise LayerNotDecomposableError(
                "no layer to profile: "
                + "; ".join(f"{i.name}: {i.profile_reason}" for i in self.analysis.layers[:3])
            )

    # -- signals ------------------------------------------------------------------------------------
    def _spec(self, name: str) -> SignalSpec:
        module = self.analysis.module(name)
        p = self.analysis.projection(name)  # of the current weights, in the module's dtype and device
        bias = module.bias.detach() if module.bias is not None else None
        return SignalSpec(p, bias, isinstance(module, nn.Linear))

    def _expected_shape(self) -> str:
        first = self.analysis.layers[0]
        if first.input_shape is not None and first.order == 0:
            return "(batch, " + ", ".join(map(str, first.input_shape[1:])) + ")"
        return (
            expected_input_hint(self.analysis.module(first.name))
            if first.decomposable
            else "what the model accepts"
        )

    def _check_inputs(self, x: Any) -> None:
        """Refuse, before the forward pass, a tensor whose channels or dtype the model's first layer cannot
        take."""
        first = self.analysis.layers[0]
        if not isinstance(x, torch.Tensor) or first.order not in (0, None) or not first.decomposable:
            return
        module = self.analysis.module(first.name)
        if not isinstance(module, nn.modules.conv._ConvNd) or first.transposed:
            return
        want = self._expected_shape()
        if not x.is_floating_point():
            raise DataError(
                f"inputs of dtype {x.dtype} for a model whose first layer is a {first.kind}: convert them "
                f"to floats the way the model was trained (e.g. x.float() / 255, then normalise)"
            )
        if x.dim() == module.weight.dim() - 1:
            raise InputShapeError(
                f"inputs of shape {tuple(x.shape)} lack the channel (or batch) dimension: the model "
                f"expects {want}; e.g. x.unsqueeze(1) for single-channel images"
            )
        if x.dim() == module.weight.dim() and x.shape[1] != module.in_channels:
            hint = ""
            if x.shape[-1] == module.in_channels:
                hint = "; these look channels-last: use x.permute(0, 3, 1, 2) or transforms.ToTensor()"
            raise InputShapeError(
                f"the model failed before the forward pass: inputs of shape {tuple(x.shape)} have "
                f"{x.shape[1]} channels; inputs must have the shape {want}{hint}"
            )

    def _run(
        self,
        x: Any,
        layers: Sequence[str],
        how: str,
        full: bool,
        *,
        calls: str = "first",
        forward: Callable[[nn.Module, Any], Any] | None = None,
    ) -> SignalCapture:
        modules = {n: self.analysis.module(n) for n in layers}
        specs = {n: self._spec(n) for n in layers}
        self._check_inputs(x)
        x = cast_inputs(x, _param_dtype(self.model), model_device(self.model))
        with (
            capture_signals(modules, specs, how, full, calls=calls) as out,
            preserved_modes(self.model),
            torch.no_grad(),
        ):
            if forward is not None:
                forward(self.model, x)
            else:
                call_model(self.model, x)
        missing = [n for n in layers if n not in out]
        if missing:
            raise LayerNotDecomposableError(
                f"layer(s) {', '.join(missing)} were not called by the model's forward pass, so they cannot "
                "be profiled"
            )
        return out

    def signals(
        self, x: Any, aggregation: str = "mean", layers: Sequence[str] | None = None, *, calls: str = "first"
    ) -> dict[str, torch.Tensor]:
        """Aggregated SVD-neuron signals per layer, each (batch, R), SVD neurons in descending σ order."""
        agg = get_aggregation(aggregation).name
        return dict(self._run(as_inputs(x), self._names(layers), agg, full=False, calls=calls))

    def projections(self, x: Any, layer: str) -> torch.Tensor:
        """The full per-position map Uᵀ(Y − b) of one layer: (batch, R, *spatial)."""
        return self._run(as_inputs(x), self._names([layer]), "mean", full=True)[layer]

    def influential(
        self, x: Any, layer: str, threshold: float = 0.1, aggregation: str = "mean"
    ) -> list[dict[int, float]]:
        """For each input: its influential SVD neurons of `layer` with DDP weights ({neuron: weight})."""
        sig = self.signals(x, aggregation, [layer])[layer]
        mask, ddp_w, _ = influential(sig, threshold)
        return [
            {int(a): float(ddp_w[i, a]) for a in torch.nonzero(mask[i]).flatten()}
            for i in range(sig.shape[0])
        ]

    def visualize(
        self,
        layer: str,
        neuron: int | None = None,
        *,
        steps: int = 512,
        size: int | Sequence[int] | None = None,
        seed: int = 0,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        lr: float = 0.05,
        alpha: int | None = None,
    ) -> FeatureVisualization:
        """Feature visualisation of SVD neuron `neuron` of `layer` (PAPER §5): an image maximising its mean
        signal.

        The image is optimised on the model's device (Fourier parameters with 1/f scaling, colour
        decorrelation for RGB, random jitter/scale/rotation each step, Adam). size: (H, W) or one int
        (default: the probe input's size); mean, std: the model's input normalisation per channel on the
        [0, 1] image (e.g. ddp_widgets.zoo.MEAN / STD for the default model; None feeds [0, 1] as it is).
        Returns a FeatureVisualization: .image (C, H, W) in [0, 1], .input (normalised, for the model),
        .history (objective per step). `alpha=` is a deprecated alias of `neuron`.
        """
        neuron = _neuron_arg(neuron, alpha, "visualize")
        name = self._names([layer])[0]
        channels, h, w = image_input_shape(self.analysis.layers)
        return visualize_neuron(
            self.model,
            self.analysis.module(name),
            self._spec(name),
            neuron,
            layer=name,
            channels=channels,
            size=(h, w) if size is None else size,
            steps=steps,
            seed=seed,
            mean=mean,
            std=std,
            lr=lr,
        )

    def _names(self, layers: Sequence[str] | None) -> list[str]:
        if layers is None:
            return list(self.layers)
        names = [layers] if isinstance(layers, str) else list(layers)
        for n in names:
            if n not in self.layers:
                raise unknown_layer(n, self.layers)
        return names

    # -- profiles -----------------------------------------------------------------------------------
    def profile(
        self,
        data: Any,
        labels: Any = None,
        *,
        batch_size: int = 64,
        top_n: int = 16,
        threshold: float = 0.1,
        aggregation: str = "mean",
        class_names: Sequence[str] | None = None,
        ignore_index: int | None = None,
        keys: tuple[str, str | None] | None = None,
        shard: tuple[int, int] | str | None = None,
        forward: Callable[[nn.Module, Any], Any] | None = None,
        calls: str = "first",
        max_batches: int | None = None,
        progress: bool = True,
        all_ranks: bool = False,
    ) -> Profile:
        """Stream `data` through the model and accumulate per-class SVD-neuron statistics.

        data: a tensor of inputs (with `labels`), a Dataset, a DataLoader (shuffled or not), or an iterable of
        `(x, y, *extra)` / dict batches (see ddp_widgets._data). Every image keeps its dataset index, which
        `top_images` / `bottom_images` return. Classes: see ddp_widgets._classes (class_names fixes the order;
        ignore_index skips a label, e.g. 255). keys=(input_key, label_key) picks dict entries. shard=(rank,
        world_size) profiles a contiguous block of whole batches, so that `Profile.merge` of all shards equals
        the whole profile; shard="auto" does that for every rank of torch.distributed and merges with
        collectives (the merged profile on rank 0, None elsewhere unless all_ranks=True; see
        ddp_widgets.distributed). forward=fn(model, inputs) calls models that take something else than the
        batch's inputs; calls="all" pools every call of a module run several times per pass. A model error
        keeps its type and gains the batch index, with the batches done so far in `exc.partial_profile`; an
        interrupt returns that partial profile.
        """
        agg = get_aggregation(aggregation).name
        _check_count("batch_size", batch_size, 1)
        _check_count("top_n", top_n, 0)
        if max_batches is not None:
            _check_count("max_batches", max_batches, 0)
        threshold = check_threshold(threshold)
        if calls not in CALLS:
            raise UnknownOptionError(f"unknown calls={calls!r}: use 'first' (the default) or 'all'")
        if forward is not None and not callable(forward):
            raise InvalidArgumentError(
                f"forward must be a callable forward(model, inputs), got {type(forward).__name__}"
            )
        if isinstance(shard, str):
            from .distributed import profile_auto

            # None on ranks other than 0 (unless all_ranks=True)
            return profile_auto(
                self,
                data,
                labels,
                shard=shard,
                batch_size=batch_size,
                top_n=top_n,  # type: ignore[return-value]
                threshold=threshold,
                aggregation=agg,
                class_names=class_names,
                ignore_index=ignore_index,
                keys=keys,
                forward=forward,
                calls=calls,
                max_batches=max_batches,
                progress=progress,
                all_ranks=all_ranks,
            )
        shard_t = check_shard(shard)
        axis = ClassAxis(class_names, ignore_index)
        plan = plan_batches(data, labels, batch_size=batch_size, keys=keys, shard=shard_t)
        run = ProfileRun(
            self,
            axis,
            aggregation=agg,
            top_n=top_n,
            threshold=threshold,
            calls=calls,
            forward=forward,
            settings={
                "ignore_index": axis.ignore_index,
                "batch_size": batch_size,
                "shard": list(shard_t) if shard_t else None,
            },
        )
        return run.execute(plan, max_batches, progress, allow_empty=shard_t is not None)


def _check_count(name: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise InvalidArgumentError(f"{name} must be an integer ≥ {least}, got {value!r}")


def _param_dtype(model: nn.Module) -> torch.dtype:
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
